package io.clustermd.dlm;

import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;

/**
 * Opens a {@link LockManager} from the daemon's {@code --lock} value:
 * <ul>
 *   <li>{@code zk://HOST:PORT[,HOST:PORT...][/chroot]}: the ZooKeeper backend (chroot default
 *       {@code /clustermd});</li>
 *   <li>{@code dlm} or {@code dlm:CLUSTER}: the kernel DLM through libdlm (needs corosync and
 *       dlm_controld; see docs/locking.md).</li>
 * </ul>
 * The {@code local} backend lives in one JVM only and is made with {@code LocalLockCluster}.
 */
public final class LockManagers {
    private LockManagers() {
    }

    /**
     * @param uri the {@code --lock} value
     * @param nodeName this node's name (host name if {@code null})
     * @throws IllegalArgumentException for a malformed or unknown URI
     * @throws IllegalStateException if the lock manager cannot be reached
     */
    public static LockManager open(String uri, String nodeName) {
        if (uri == null || uri.isBlank()) {
            throw new IllegalArgumentException("no lock manager given; use --lock zk://HOST:PORT/chroot (ZooKeeper, e.g. "
                    + "from 'clustermd coordinator') or --lock dlm (kernel DLM)");
        }
        if (uri.startsWith("zk://")) {
            return ZkLockManager.start(ZkLockManagerConfig.parse(uri, nodeName));
        }
        if (uri.equals("dlm") || uri.startsWith("dlm:")) {
            return libdlm(nodeName);
        }
        throw new IllegalArgumentException("unknown lock manager '" + uri + "'; use zk://HOST:PORT[,HOST:PORT...]/chroot "
                + "or dlm");
    }

    private static LockManager libdlm(String nodeName) {
        try {
            Class<?> c = Class.forName("io.clustermd.dlm.libdlm.LibDlmLockManager");
            return (LockManager) c.getMethod("open", String.class).invoke(null, nodeName);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("this build has no libdlm backend; use --lock zk://HOST:PORT/chroot", e);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("cannot open the kernel DLM: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot load the libdlm backend: " + e, e);
        }
    }
}
