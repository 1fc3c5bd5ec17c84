package io.clustermd.dlm.rules;

import io.clustermd.dlm.LockMode;

/**
 * One lock on a resource as the lock manager sees it: the kernel's {@code struct dlm_lkb}
 * (grmode, rqmode, exflags, highbast), plus what a backend needs to report a grant to the owner
 * later (the request sequence number it answers and the LVB read at grant time).
 */
public final class LockEntry {
    /** The node that owns the lock. */
    public final String owner;
    /** The owner's id for this lock (unique per owner). */
    public final long lockId;
    /** Granted mode, {@code null} while a new request waits (the kernel's IV). */
    public LockMode grmode;
    /** Requested mode while a request or conversion waits, else {@code null}. */
    public LockMode rqmode;
    /** {@code LKF_*} bits of the request in progress (or of the last one). */
    public int flags;
    /** Highest mode a blocking callback was sent for since the last grant ({@code lkb_highbast}). */
    public LockMode highBast;
    /** Counts blocking callbacks sent to this lock (lets a remote owner notice new ones). */
    public int bastSeq;
    /** Mode of the last blocking callback. */
    public LockMode bastMode;
    /** The owner's sequence number of the request in progress (or the last one). */
    public long reqSeq;
    /** {@link #reqSeq} of the request that was last granted. */
    public long grantSeq;
    /** LVB copied out at the last grant that read it ({@code null} if none). */
    public byte[] lvbOut;
    /** The resource LVB was invalid when {@link #lvbOut} was read (or at the last grant). */
    public boolean lvbOutInvalid;
    /** LVB to write when a queued conversion from PW/EX is granted. */
    public byte[] lvbIn;

    public LockEntry(String owner, long lockId) {
        this.owner = owner;
        this.lockId = lockId;
    }

    /** Same owner and lock id. */
    public boolean sameLock(String otherOwner, long otherLockId) {
        return lockId == otherLockId && owner.equals(otherOwner);
    }

    @Override
    public String toString() {
        return owner + "/" + lockId + "[gr=" + grmode + " rq=" + rqmode + "]";
    }
}
