package io.clustermd.daemon.cluster;

import io.clustermd.control.ClusterStatus;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagerListener;
import io.clustermd.dlm.LockManagers;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.array.BitmapSlots;
import io.clustermd.md.array.ClusterOperations;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.cluster.ClusterArrayEvents;
import io.clustermd.md.cluster.ClusterLocks;
import io.clustermd.md.cluster.ClusterNode;
import io.clustermd.md.cluster.DlmClusterOperations;
import io.clustermd.md.cluster.MessageChannel;
import io.clustermd.md.cluster.ResyncInfoCodec;
import io.clustermd.md.cluster.SlotClaim;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * This daemon's membership in a clustered array: the lock manager from {@code --lock}, the
 * array's lockspace, the {@link ClusterNode} (slot, messages, peers) and the
 * {@link ClusterOperations} the array runs with. The order matters and is md's:
 * <ol>
 *   <li>the lock manager and the lockspace {@code cmd-<uuid>};</li>
 *   <li>join: a slot of our own before anything touches the members;</li>
 *   <li>the array opens on that slot's bitmap; {@link #bind} connects the node's events to it;</li>
 *   <li>the array activates (its first superblock update goes under the token);</li>
 *   <li>{@link #recoverAbandonedSlots}: dirty slots nobody holds are taken over.</li>
 * </ol>
 */
public final class ClusterMembership implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ClusterMembership.class);

    /** Defaults of the ZooKeeper backend for a daemon: recovery starts within about 4 s of a kill. */
    public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(3);
    static final Duration FENCING_GRACE = Duration.ofSeconds(1);

    private final LockManager manager;
    private final Lockspace lockspace;
    private final ClusterNode node;
    private final ClusterArrayEvents events;
    private final DlmClusterOperations operations;
    private final int slotCount;
    private final String nodeName;
    private final String clusterName;
    /** "ok", or what happened to this node's lock manager (set by its listener). */
    private final java.util.concurrent.atomic.AtomicReference<String> health;
    private final RequestRate rate = new RequestRate();

    private ClusterMembership(LockManager manager, Lockspace lockspace, ClusterNode node, ClusterArrayEvents events,
                              int slotCount, String nodeName, String clusterName,
                              java.util.concurrent.atomic.AtomicReference<String> health) {
        this.health = health;
        this.manager = manager;
        this.lockspace = lockspace;
        this.node = node;
        this.events = events;
        this.slotCount = slotCount;
        this.nodeName = nodeName;
        this.clusterName = clusterName;
        this.operations = new DlmClusterOperations(node, events::reloadSuperblock, ClusterMembership::logLine);
    }

    /** What went wrong while joining, said for an operator. */
    public static final class JoinException extends Exception {
        private static final long serialVersionUID = 1L;

        JoinException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Steps 1-2: connects to the lock manager and joins the array's cluster.
     *
     * @param lockUri     the {@code --lock} value
     * @param nodeName    this node's name in the lock manager
     * @param sessionTimeout ZooKeeper session timeout (how soon a dead node is noticed)
     * @param joinTimeout bound of the whole join
     * @param onFenced    run (on the lock manager's thread) when this node lost its lock manager
     */
    public static ClusterMembership join(String lockUri, String nodeName, MdSuperblock reference, int slotCount,
                                         String clusterName, Duration sessionTimeout, Duration joinTimeout,
                                         Runnable onFenced) throws JoinException {
        if (nodeName == null) {
            nodeName = hostName();
        }
        LockManager manager;
        try {
            manager = open(lockUri, nodeName, sessionTimeout);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new JoinException("cannot use lock manager '" + lockUri + "': " + e.getMessage(), e);
        }
        // A daemon of the same name killed just before stays a member until its session ends.
        Duration sameName = lockUri != null && lockUri.startsWith("zk://")
                ? sessionTimeout.plus(FENCING_GRACE).plusSeconds(2) : ClusterNode.Timeouts.DEFAULT.step();
        return join(manager, lockUri, nodeName, reference, slotCount, clusterName, joinTimeout, sameName, onFenced);
    }

    /**
     * Step 2 on a lock manager that is already open (the in-process {@code local} one of the mini
     * cluster, or one from {@link LockManagers}); {@code where} names it in errors.
     */
    public static ClusterMembership join(LockManager manager, String where, String nodeName, MdSuperblock reference,
                                         int slotCount, String clusterName, Duration joinTimeout, Duration sameNameWait,
                                         Runnable onFenced) throws JoinException {
        String lockUri = where;
        String uuid = MdSuperblock.mdadmUuid(reference.setUuid());
        java.util.concurrent.atomic.AtomicReference<String> health = new java.util.concurrent.atomic.AtomicReference<>("ok");
        manager.addListener(new LockManagerListener() {
            @Override
            public void selfFenced(String reason) {
                health.set("fenced: " + reason);
                log.error("cluster: lost the lock manager ({}): member I/O stops now; other nodes will recover"
                        + " this node's slot", reason);
                onFenced.run();
            }
        });
        ClusterArrayEvents events = new ClusterArrayEvents(ClusterMembership::logLine);
        Lockspace lockspace = null;
        try {
            lockspace = manager.openLockspace(ClusterLocks.lockspaceName(reference.setUuid()),
                    ClusterNode.Timeouts.DEFAULT.step());
            ClusterNode node = ClusterNode.join(lockspace, slotCount, nodeName, events,
                    ClusterNode.Timeouts.DEFAULT.withSameName(sameNameWait), ClusterMembership::logLine)
                    .get(joinTimeout.toMillis(), TimeUnit.MILLISECONDS);
            log.info("cluster: node {} ({}) joined array {} in slot {} of {}", nodeName, manager.nodeId(), uuid,
                    node.slot(), slotCount);
            return new ClusterMembership(manager, lockspace, node, events, slotCount, nodeName, clusterName, health);
        } catch (ExecutionException e) {
            close(manager, lockspace);
            Throwable cause = MessageChannel.unwrap(e);
            if (cause instanceof SlotClaim.SlotsFullException full) {
                throw new JoinException("cannot join array " + uuid + ": " + full.getMessage(), full);
            }
            throw new JoinException("cannot join array " + uuid + " through " + lockUri + ": " + cause.getMessage(),
                    cause);
        } catch (TimeoutException e) {
            close(manager, lockspace);
            throw new JoinException("joining array " + uuid + " through " + lockUri + " took longer than "
                    + joinTimeout.toSeconds() + " s (is another node stuck holding the 'token' lock?)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close(manager, lockspace);
            throw new JoinException("interrupted while joining array " + uuid, e);
        } catch (RuntimeException e) {
            close(manager, lockspace);
            throw new JoinException("cannot join array " + uuid + " through " + lockUri + ": " + e.getMessage(), e);
        }
    }

    /** The default node name: the kernel's host name (no resolver involved), as uname -n says it. */
    static String hostName() {
        try {
            String name = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/kernel/hostname")).trim();
            if (!name.isEmpty()) {
                return name;
            }
        } catch (java.io.IOException e) {
            // not Linux: the resolver's name below
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException("cannot tell this machine's host name; give --node-name", e);
        }
    }

    private static LockManager open(String uri, String nodeName, Duration sessionTimeout) {
        if (uri != null && uri.startsWith("zk://")) {
            ZkLockManagerConfig config = ZkLockManagerConfig.parse(uri, nodeName)
                    .withTimings(sessionTimeout, FENCING_GRACE, null);
            return ZkLockManager.start(config);
        }
        return LockManagers.open(uri, nodeName);
    }

    private static void close(LockManager manager, Lockspace lockspace) {
        try {
            if (lockspace != null) {
                lockspace.close();
            }
        } catch (RuntimeException e) {
            log.debug("closing lockspace", e);
        }
        try {
            manager.close();
        } catch (RuntimeException e) {
            log.debug("closing lock manager", e);
        }
    }

    private static void logLine(String line) {
        log.info(line);
    }

    /** This node's slot. */
    public int slot() {
        return node.slot();
    }

    /** What the array runs with. */
    public ClusterOperations operations() {
        return operations;
    }

    /**
     * Step 3: the opened array takes the node's events from now on; members other nodes add are
     * looked for with {@code locator}.
     */
    public void bind(MdArray array, io.clustermd.md.array.DeviceLocator locator) {
        array.remoteChanges().useLocator(locator);
        events.bind(BitmapSlots.of(array), array.remoteChanges(), node.windows());
        try {
            // before this node serves: chunks another node took over and has not resynced read from one member
            node.joinReadsSettled().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            log.warn("cluster: reading the chunks other nodes took over: {}; reads stay on the first member only"
                    + " while their resync runs", e instanceof ExecutionException ? MessageChannel.unwrap(e.getCause())
                    .getMessage() : "timed out");
            node.windows().suspendReadBalancing();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The array did not start: events waiting for it fail. */
    public void abandon(Throwable why) {
        events.abandon(why);
    }

    /** Step 5, in the background: logs what it found. */
    public void recoverAbandonedSlots() {
        node.recoverAbandonedSlots().whenComplete((v, e) -> {
            if (e != null) {
                log.warn("cluster: looking at free slots for abandoned dirty bits: {}",
                        MessageChannel.unwrap(e).getMessage());
            }
        });
    }


    /** Resync windows of other nodes: what this node's sync status shows as remote. */
    public Map<Integer, ResyncInfoCodec.Window> remoteWindows() {
        return node.windows().windows();
    }

    /** Other nodes resyncing now (this node's status shows its sync as pending meanwhile). */
    public int remoteWindowCount() {
        return node.windows().windows().size();
    }

    /** The cluster part of status. */
    public ClusterStatus status() {
        List<ClusterStatus.SlotStatus> nodes = new ArrayList<>();
        Map<Integer, ResyncInfoCodec.Window> windows = node.windows().windows();
        Set<Integer> recovering = node.recoveringSlots();
        Set<Integer> slots = new TreeSet<>(node.peerSlots());
        slots.add(node.slot());
        slots.addAll(recovering);
        for (int s : slots) {
            ResyncInfoCodec.Window w = windows.get(s);
            String state;
            if (recovering.contains(s)) {
                state = "gone, being recovered by this node";
            } else if (s == node.slot()) {
                state = "active (this node)";
            } else if (w != null) {
                state = "resyncing";
            } else {
                state = "active";
            }
            nodes.add(new ClusterStatus.SlotStatus(s, s == node.slot() ? nodeName : null, state,
                    w == null ? null : w.lo(), w == null ? null : w.hi()));
        }
        long requests = lockspace.requestsSent();
        return new ClusterStatus(clusterName, node.slot(), slotCount, nodes, manager.backend(), health.get(),
                node.channel().messagesSent(), node.channel().messagesReceived(), requests,
                rate.perSecond(requests, System.nanoTime()));
    }

    /** The array's lockspace (metrics observe its requests). */
    public io.clustermd.dlm.Lockspace lockspace() {
        return lockspace;
    }

    /** Steps of cluster message exchanges that timed out waiting for another node. */
    public long messageTimeouts() {
        return node.channel().stepTimeouts();
    }

    /** How long closing the lock manager may take (a fenced one may be retrying a server that is gone). */
    static final long CLOSE_MILLIS = 3_000;

    /**
     * Closes the lock manager once the array has left (its stop released our slot), within
     * {@link #CLOSE_MILLIS}: a daemon exits even when the lock service is gone.
     */
    @Override
    public void close() {
        Thread closer = Thread.ofPlatform().name("lock-manager-close").daemon().start(() -> close(manager, null));
        try {
            closer.join(CLOSE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (closer.isAlive()) {
            log.warn("cluster: the lock manager did not close within {} ms; exiting without it", CLOSE_MILLIS);
        }
    }

    /** Lock requests per second over the last few seconds, from successive status calls. */
    static final class RequestRate {
        private long lastCount = -1;
        private long lastNanos;
        private double rate;

        synchronized double perSecond(long count, long nowNanos) {
            if (lastCount >= 0 && nowNanos - lastNanos >= 500_000_000L) {
                rate = (count - lastCount) * 1e9 / (nowNanos - lastNanos);
                lastCount = count;
                lastNanos = nowNanos;
            } else if (lastCount < 0) {
                lastCount = count;
                lastNanos = nowNanos;
            }
            return rate;
        }
    }
}
