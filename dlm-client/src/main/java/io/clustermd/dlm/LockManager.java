package io.clustermd.dlm;

import java.time.Duration;
import java.util.Set;

/**
 * A distributed lock manager with DLM semantics: the ops table every backend implements
 * ({@code libdlm} over the kernel DLM, {@code zookeeper}, {@code local}). Counterpart of libdlm's
 * lockspace functions ({@code dlm_new_lockspace}, {@code dlm_open_lockspace},
 * {@code dlm_release_lockspace}); locks are taken through {@link Lockspace} and {@link LockHandle}.
 *
 * <p>One instance is one cluster node. All completions and callbacks of one manager are delivered
 * on its event thread, in order; code running there must not block on another lock's future.
 */
public interface LockManager extends AutoCloseable {

    /** The backend's name: {@code local}, {@code zookeeper} or {@code libdlm}. */
    String backend();

    /** This node's id in the lock manager (for ZooKeeper it changes when the node rejoins). */
    String nodeId();

    /** The request flags this backend implements. */
    Set<LockFlag> supportedFlags();

    /** True if this backend tells the blocked mode to {@link BlockingCallback}s. */
    boolean reportsBlockingMode();

    /**
     * Joins (creating it if needed) the lockspace {@code name} (1..64 bytes of UTF-8, printable, no
     * '/'); {@code dlm_new_lockspace}. Every lock request in it that is not given its own timeout
     * waits at most {@code defaultTimeout}.
     *
     * @throws IllegalArgumentException for a bad name or timeout
     * @throws IllegalStateException if this manager already has the lockspace open, or is closed
     */
    Lockspace openLockspace(String name, Duration defaultTimeout);

    /** {@link #openLockspace(String, Duration)} with a 30-second default timeout. */
    default Lockspace openLockspace(String name) {
        return openLockspace(name, Duration.ofSeconds(30));
    }

    /** Registers a membership listener; called on the event thread. */
    void addListener(LockManagerListener listener);

    /**
     * Leaves cleanly: closes every open lockspace (releasing its locks, failing pending requests),
     * then the connection to the lock manager.
     */
    @Override
    void close();
}
