package io.clustermd.dlm;

/**
 * How a lock operation completed; the {@code sb_status} values of libdlm's {@code struct dlm_lksb}.
 */
public enum LockStatus {
    /** Granted (status 0): the lock is held in the requested mode. */
    GRANTED,
    /** {@code EAGAIN}: a NOQUEUE request could not be granted at once; the lock is unchanged. */
    NOT_GRANTED,
    /** {@code ECANCEL}: the waiting request or conversion was cancelled; the lock is unchanged. */
    CANCELLED,
    /** {@code ETIMEDOUT}: the deadline passed, so the request was cancelled; the lock is unchanged. */
    TIMED_OUT,
    /** {@code EDEADLK}: the conversion would deadlock with a conversion queued before it; unchanged. */
    DEADLOCK,
    /** {@code EUNLOCK}: the lock was released (normal completion of an unlock). */
    UNLOCKED,
    /**
     * The lock manager failed the operation: connection to it lost and this node fenced, lockspace
     * closed, or an I/O error. {@link LockResult#cause()} says what.
     */
    FAILED
}
