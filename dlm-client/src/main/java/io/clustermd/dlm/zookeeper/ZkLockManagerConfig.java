package io.clustermd.dlm.zookeeper;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;

/**
 * Settings of the {@code zookeeper} backend.
 *
 * @param connectString ZooKeeper servers, {@code host:port[,host:port...]}
 * @param chroot the znode under which everything lives (e.g. {@code /clustermd}); every node of
 *     one cluster must use the same
 * @param nodeName this node's name (the node id adds an incarnation suffix)
 * @param sessionTimeout the ZooKeeper session timeout asked for (the server may clamp it)
 * @param fencingGrace how long after a node's session expired its locks are released
 * @param selfFenceMargin how much earlier than the earliest possible session expiry a node that
 *     lost its connection fences itself
 * @param scheduler deadlines and timers; {@code null} for a private thread
 */
public record ZkLockManagerConfig(String connectString, String chroot, String nodeName, Duration sessionTimeout,
                                  Duration fencingGrace, Duration selfFenceMargin, ScheduledExecutorService scheduler) {

    public ZkLockManagerConfig {
        Objects.requireNonNull(connectString, "connectString");
        if (connectString.isBlank()) {
            throw new IllegalArgumentException("ZooKeeper connect string is empty; give host:port[,host:port...]");
        }
        chroot = chroot == null || chroot.isEmpty() ? "/clustermd" : chroot;
        if (!chroot.startsWith("/") || chroot.endsWith("/") && chroot.length() > 1 || chroot.contains("//")) {
            throw new IllegalArgumentException("ZooKeeper chroot must look like /name[/name...], got '" + chroot + "'");
        }
        if (nodeName == null || nodeName.isBlank()) {
            nodeName = defaultNodeName();
        }
        if (nodeName.contains("/") || nodeName.length() > 48) {
            throw new IllegalArgumentException("node name must be 1..48 characters without '/', got '" + nodeName + "'");
        }
        sessionTimeout = positive(sessionTimeout == null ? Duration.ofSeconds(9) : sessionTimeout, "session timeout");
        fencingGrace = fencingGrace == null ? Duration.ofSeconds(2) : fencingGrace;
        selfFenceMargin = selfFenceMargin == null ? Duration.ofMillis(500) : selfFenceMargin;
        if (fencingGrace.isNegative() || selfFenceMargin.isNegative()) {
            throw new IllegalArgumentException("fencing grace and self-fence margin must not be negative");
        }
    }

    /** Defaults for everything but the servers. */
    public static ZkLockManagerConfig of(String connectString, String chroot, String nodeName) {
        return new ZkLockManagerConfig(connectString, chroot, nodeName, null, null, null, null);
    }

    /**
     * Parses {@code zk://HOST:PORT[,HOST:PORT...]/chroot} (the daemon's {@code --lock} value);
     * the chroot defaults to {@code /clustermd}.
     */
    public static ZkLockManagerConfig parse(String uri, String nodeName) {
        if (uri == null || !uri.startsWith("zk://")) {
            throw new IllegalArgumentException("lock manager URI must look like zk://HOST:PORT[,HOST:PORT...]/chroot, got '"
                    + uri + "'");
        }
        String rest = uri.substring("zk://".length());
        int slash = rest.indexOf('/');
        String hosts = slash < 0 ? rest : rest.substring(0, slash);
        String chroot = slash < 0 ? null : rest.substring(slash);
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("lock manager URI '" + uri + "' names no ZooKeeper server; e.g. "
                    + "zk://127.0.0.1:2181/clustermd");
        }
        for (String hp : hosts.split(",")) {
            int colon = hp.lastIndexOf(':');
            if (colon <= 0 || colon == hp.length() - 1) {
                throw new IllegalArgumentException("ZooKeeper server '" + hp + "' in '" + uri + "' needs HOST:PORT");
            }
            try {
                int port = Integer.parseInt(hp.substring(colon + 1));
                if (port < 1 || port > 65535) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ZooKeeper server '" + hp + "' in '" + uri + "' has a bad port");
            }
        }
        if (chroot != null && chroot.equals("/")) {
            chroot = null;
        }
        if (chroot != null) {
            URI.create("zk://h" + chroot); // rejects spaces and other junk with a clear message
        }
        return of(hosts, chroot, nodeName);
    }

    /** A copy with other timings. */
    public ZkLockManagerConfig withTimings(Duration session, Duration grace, Duration margin) {
        return new ZkLockManagerConfig(connectString, chroot, nodeName, session, grace, margin, scheduler);
    }

    /** A copy with another node name. */
    public ZkLockManagerConfig withNodeName(String name) {
        return new ZkLockManagerConfig(connectString, chroot, name, sessionTimeout, fencingGrace, selfFenceMargin, scheduler);
    }

    private static Duration positive(Duration d, String what) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be positive, got " + d);
        }
        return d;
    }

    private static String defaultNodeName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "node";
        }
    }
}
