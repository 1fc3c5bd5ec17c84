package io.clustermd.dlm;

import java.time.Duration;
import java.util.Set;

/**
 * A lockspace: a namespace of lock resources shared by the nodes that join it; libdlm's
 * {@code dlm_lshandle_t}. Resource names are 1..64 bytes ({@code DLM_RESNAME_MAXLEN}).
 */
public interface Lockspace extends AutoCloseable {

    /** The lockspace name. */
    String name();

    /** The deadline of requests that are not given their own. */
    Duration defaultTimeout();

    /** The flags its lock manager supports ({@link LockManager#supportedFlags()}). */
    Set<LockFlag> supportedFlags();

    /**
     * A new, unlocked lock on {@code resource}; like an lksb about to be passed to
     * {@code dlm_ls_lock} (several handles on one resource from one node are separate locks).
     *
     * @param blocking called when this lock is in another request's way
     * @throws IllegalArgumentException for an empty name or one longer than 64 bytes in UTF-8
     * @throws IllegalStateException if the lockspace is closed
     */
    LockHandle newLock(String resource, BlockingCallback blocking);

    /** {@link #newLock(String, BlockingCallback)} with no blocking callback. */
    default LockHandle newLock(String resource) {
        return newLock(resource, BlockingCallback.NONE);
    }

    /**
     * Lock requests (lock, convert, unlock) this node has sent in this lockspace: the daemon shows
     * them per second in status, and the benchmark asserts that ordinary I/O sends none.
     */
    long requestsSent();

    /** Told of every lock, conversion or unlock request when it completes, with how long it took. */
    @FunctionalInterface
    interface RequestObserver {
        /**
         * @param status what the request ended in
         * @param nanos  from the request being sent to its completion
         */
        void completed(LockStatus status, long nanos);
    }

    /**
     * Sets the observer of completed requests (metrics), replacing any earlier one; it runs on the
     * lock manager's event thread and must not block.
     */
    void observeRequests(RequestObserver observer);

    /**
     * Leaves the lockspace ({@code dlm_release_lockspace} with force): every lock of this node in
     * it is released (without writing LVBs), pending requests complete with {@link LockStatus#FAILED}.
     */
    @Override
    void close();
}
