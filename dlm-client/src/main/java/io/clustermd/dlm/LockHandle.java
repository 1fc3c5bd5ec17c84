package io.clustermd.dlm;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * One lock on one resource: libdlm's lock id ({@code sb_lkid}) with its {@code struct dlm_lksb}.
 * At most one operation (request, conversion or unlock) is in flight at a time, as in the DLM.
 *
 * <p>The handle owns a 32-byte LVB buffer ({@code sb_lvbptr}): with {@link LockFlag#VALBLK}, a
 * grant that reads the resource LVB copies it into the buffer; a down-conversion from PW/EX or an
 * unlock from PW/EX writes the buffer to the resource. Set it with {@link #setLvb} before such a
 * conversion.
 */
public interface LockHandle {

    /** The resource name. */
    String resource();

    /** The lockspace of this lock. */
    Lockspace lockspace();

    /** The mode this lock is granted in, or {@code null} if it is not held. */
    LockMode grantedMode();

    /** True while a request, conversion or unlock is in flight. */
    boolean pending();

    /**
     * Requests the lock in {@code mode} ({@code dlm_ls_lock}); with {@link LockFlag#CONVERT}
     * converts the held lock to {@code mode}. The future completes on the event thread with
     * GRANTED, NOT_GRANTED (NOQUEUE), CANCELLED, TIMED_OUT (deadline passed: the request was
     * cancelled, never left queued), DEADLOCK (conversion) or FAILED.
     *
     * @throws IllegalArgumentException for a bad flag combination (EXPEDITE on a mode other than
     *     NL, QUECVT without CONVERT, ORPHAN without PERSISTENT) or a non-positive timeout
     * @throws IllegalStateException if the lock is not held and CONVERT is given, is held and
     *     CONVERT is missing, or has an operation in flight (DLM's EBUSY)
     * @throws UnsupportedOperationException for a flag this backend does not have
     */
    CompletableFuture<LockResult> lock(LockMode mode, Duration timeout, LockFlag... flags);

    /** {@link #lock(LockMode, Duration, LockFlag...)} with the lockspace's default timeout. */
    default CompletableFuture<LockResult> lock(LockMode mode, LockFlag... flags) {
        return lock(mode, lockspace().defaultTimeout(), flags);
    }

    /** Converts the held lock: {@code lock(mode, CONVERT, flags...)}. */
    default CompletableFuture<LockResult> convert(LockMode mode, LockFlag... flags) {
        LockFlag[] all = java.util.Arrays.copyOf(flags, flags.length + 1);
        all[flags.length] = LockFlag.CONVERT;
        return lock(mode, all);
    }

    /**
     * Releases the lock ({@code dlm_ls_unlock}); with {@link LockFlag#VALBLK} from PW/EX the LVB
     * buffer is written to the resource, with {@link LockFlag#IVVALBLK} the resource LVB is marked
     * invalid. Completes with UNLOCKED.
     *
     * @throws IllegalStateException if the lock is not held or has an operation in flight
     *     (cancel it first)
     */
    CompletableFuture<LockResult> unlock(LockFlag... flags);

    /**
     * Cancels the request or conversion in flight ({@code dlm_ls_unlock} with {@code LKF_CANCEL}).
     * The request's own future completes with CANCELLED, or with GRANTED if the grant won the race.
     * The returned future completes with true if it was cancelled, false if nothing was pending or
     * the grant won.
     */
    CompletableFuture<Boolean> cancel();

    /** Sets the LVB buffer written by the next VALBLK down-conversion or unlock from PW/EX. */
    void setLvb(byte[] value);

    /** A copy of the LVB buffer: the last value read or set. */
    byte[] lvb();
}
