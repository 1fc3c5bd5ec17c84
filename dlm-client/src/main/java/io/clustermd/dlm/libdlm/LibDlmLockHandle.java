package io.clustermd.dlm.libdlm;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lvb;
import io.clustermd.dlm.spi.AbstractLockHandle;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

import java.nio.charset.StandardCharsets;

/**
 * A kernel DLM lock: its {@code struct dlm_lksb} and 32-byte LVB live in native memory owned by
 * this handle for its whole life, so they stay valid until every completion AST has arrived.
 */
final class LibDlmLockHandle extends AbstractLockHandle {
    private static final int EAGAIN = 11;
    private static final int EDEADLK = 35;
    private static final int EBUSY = 16;
    private static final int ENOENT = 2;

    private final LibDlmLockspace ls;
    private final Pointer lksb;
    private final Pointer lvb;
    private final Pointer astarg;
    private final Pointer name;
    private final int nameLength;
    /** An unlock whose first step (the conversion to NL that writes the LVB) is in flight. */
    private volatile Op unlockAfterConvert;

    LibDlmLockHandle(LibDlmLockspace ls, String resource, long lockId, BlockingCallback blocking) {
        super(ls, resource, lockId, blocking);
        this.ls = ls;
        jnr.ffi.Runtime rt = ls.manager.runtime;
        this.lksb = Memory.allocateDirect(rt, LibDlmNative.LKSB_SIZE, true);
        this.lvb = Memory.allocateDirect(rt, Lvb.LENGTH, true);
        lksb.putPointer(LibDlmNative.LKSB_LVBPTR, lvb);
        this.astarg = Pointer.wrap(rt, lockId);
        byte[] n = resource.getBytes(StandardCharsets.UTF_8);
        this.name = Memory.allocateDirect(rt, n.length);
        name.put(0, n, 0, n.length);
        this.nameLength = n.length;
    }

    /**
     * 1. (conversion from PW/EX with VALBLK) copy the caller's LVB into the native LVB the kernel
     * will read; 2. {@code dlm_ls_lock} (with the lock id for a conversion); 3. the result comes as an AST.
     */
    @Override
    protected void sendLock(Op op) {
        int flags = op.flagBits;
        if (op.kind == Kind.CONVERT) {
            lvb.put(0, op.lvbIn, 0, Lvb.LENGTH);
            flags |= LibDlmNative.LKF_CONVERT;
        } else {
            lksb.putInt(LibDlmNative.LKSB_LKID, 0);
        }
        lksb.putInt(LibDlmNative.LKSB_STATUS, 0);
        lksb.putByte(LibDlmNative.LKSB_FLAGS, (byte) 0);
        int rc = ls.manager.dlm.dlm_ls_lock(ls.ls, op.mode.value(), lksb, flags, name, nameLength, 0, ls.ast, astarg,
                ls.bast, null);
        if (op.flags.contains(LockFlag.ORPHAN)) {
            // Adopting an orphan is synchronous in the kernel: the write returns the orphan's lock
            // id, or fails with EAGAIN (an orphan of that name in another mode) or ENOENT (none);
            // no completion AST follows.
            int errno = rc == 0 ? 0 : ls.manager.lastErrno();
            if (rc == 0) {
                ls.manager.events.execute(() -> complete(op, LockStatus.GRANTED, null, false));
            } else if (errno == EAGAIN) {
                ls.manager.events.execute(() -> complete(op, LockStatus.NOT_GRANTED, null, false));
            } else if (errno == ENOENT) {
                ls.manager.events.execute(() -> fail(op, new IllegalStateException("no orphaned " + op.mode
                        + " lock on '" + resource + "' to adopt")));
            } else {
                throw refused("dlm_ls_lock (adopt orphan)", op);
            }
            return;
        }
        if (rc != 0) {
            throw refused("dlm_ls_lock", op);
        }
    }

    /**
     * libdlm's {@code dlm_ls_unlock} never fills the LVB field of its request to the kernel (it is
     * uninitialised stack memory), and the kernel copies that field into the lock's LVB; an unlock
     * from PW/EX of a lock whose last request had VALBLK then writes garbage into the resource LVB.
     * So every unlock from PW/EX is done the way lvmlockd does it: 1. convert to NL, with
     * VALBLK/IVVALBLK if the caller asked (the down-conversion writes or invalidates the LVB, or,
     * without the flags, leaves it alone); 2. when that AST arrives, the plain unlock, from NL,
     * which never touches the LVB; 3. its AST completes the unlock.
     */
    @Override
    protected void sendUnlock(Op op) {
        io.clustermd.dlm.LockMode held = grantedBefore();
        boolean lvbWork = held == io.clustermd.dlm.LockMode.PW || held == io.clustermd.dlm.LockMode.EX;
        if (lvbWork) {
            lvb.put(0, op.lvbIn, 0, Lvb.LENGTH);
            unlockAfterConvert = op;
            int rc = ls.manager.dlm.dlm_ls_lock(ls.ls, io.clustermd.dlm.LockMode.NL.value(), lksb,
                    op.flagBits | LibDlmNative.LKF_CONVERT, name, nameLength, 0, ls.ast, astarg, ls.bast, null);
            if (rc != 0) {
                unlockAfterConvert = null;
                throw refused("dlm_ls_lock (convert to NL before unlock)", op);
            }
            return;
        }
        plainUnlock(op);
    }

    private void plainUnlock(Op op) {
        int rc = ls.manager.dlm.dlm_ls_unlock(ls.ls, lksb.getInt(LibDlmNative.LKSB_LKID), 0, lksb, astarg);
        if (rc != 0) {
            throw refused("dlm_ls_unlock", op);
        }
    }

    /** {@code dlm_ls_unlock} with {@code LKF_CANCEL}; EBUSY means the grant came first (its AST is on the way). */
    @Override
    protected void sendCancel(Op op) {
        int rc = ls.manager.dlm.dlm_ls_unlock(ls.ls, lksb.getInt(LibDlmNative.LKSB_LKID), LibDlmNative.LKF_CANCEL, lksb,
                astarg);
        if (rc != 0 && ls.manager.lastErrno() != EBUSY) {
            throw refused("cancel", op);
        }
    }

    private IllegalStateException refused(String call, Op op) {
        return new IllegalStateException(call + " of '" + resource + "' (" + op + ") refused by the kernel DLM: "
                + ls.manager.lastError());
    }

    /** On the dispatch thread: read the lksb now (the next request reuses it), complete on the event thread. */
    void onCompletion() {
        Op op = pendingOp();
        int status = lksb.getInt(LibDlmNative.LKSB_STATUS);
        boolean invalid = (lksb.getByte(LibDlmNative.LKSB_FLAGS) & LibDlmNative.SBF_VALNOTVALID) != 0;
        byte[] value = null;
        if (op != null && op.flags.contains(LockFlag.VALBLK) && status == 0 && op.kind != Kind.UNLOCK) {
            value = new byte[Lvb.LENGTH];
            lvb.get(0, value, 0, Lvb.LENGTH);
        }
        if (op == null) {
            return;
        }
        if (op == unlockAfterConvert) {
            unlockAfterConvert = null;
            if (status == 0) {
                try {
                    plainUnlock(op); // step 2
                } catch (RuntimeException e) {
                    ls.manager.events.execute(() -> fail(op, e));
                }
                return;
            }
        }
        LockStatus s = switch (status) {
            case 0 -> op.kind == Kind.UNLOCK ? LockStatus.UNLOCKED : LockStatus.GRANTED;
            case LibDlmNative.EUNLOCK -> LockStatus.UNLOCKED;
            case LibDlmNative.ECANCEL -> LockStatus.CANCELLED;
            case EAGAIN -> LockStatus.NOT_GRANTED;
            case EDEADLK -> LockStatus.DEADLOCK;
            default -> null;
        };
        byte[] lvbOut = value;
        if (s == null) {
            ls.manager.events.execute(() -> fail(op, new IllegalStateException("kernel DLM completed " + op + " on '" + resource
                    + "' with status " + status + " (" + ls.manager.libc.strerror(status) + ")")));
        } else {
            LockStatus fs = s;
            ls.manager.events.execute(() -> complete(op, fs, lvbOut, invalid));
        }
    }
}
