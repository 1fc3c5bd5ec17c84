package io.clustermd.dlm.spi;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.Lvb;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The client side of one lock, common to every backend: argument checks (the DLM's EINVAL and
 * EBUSY cases), the one-operation-in-flight rule, the LVB buffer, deadlines that cancel the
 * request, and turning a backend's completion into the caller's future. A backend implements
 * the three sends and reports back with {@link #complete} and {@link #fail}; it must call those
 * and {@link #deliverBlocking} on its event thread.
 */
public abstract class AbstractLockHandle implements LockHandle {
    private static final Logger LOG = LoggerFactory.getLogger(AbstractLockHandle.class);

    /** What an operation does. */
    public enum Kind { REQUEST, CONVERT, UNLOCK }

    /** One operation in flight. */
    public static final class Op {
        public final Kind kind;
        public final long seq;
        public final LockMode mode;
        public final Set<LockFlag> flags;
        public final int flagBits;
        /** The LVB buffer at the time of the call (written by down-conversions/unlocks from PW/EX). */
        public final byte[] lvbIn;
        final CompletableFuture<LockResult> future = new CompletableFuture<>();
        volatile ScheduledFuture<?> timer;
        volatile boolean timedOut;
        /** {@link System#nanoTime()} when the request was handed to the lock manager (0: not yet). */
        volatile long sentNanos;

        Op(Kind kind, long seq, LockMode mode, Set<LockFlag> flags, byte[] lvbIn) {
            this.kind = kind;
            this.seq = seq;
            this.mode = mode;
            this.flags = flags;
            this.flagBits = LockFlag.bits(flags);
            this.lvbIn = lvbIn;
        }

        @Override
        public String toString() {
            return kind + " " + mode + " " + flags + " #" + seq;
        }
    }

    protected final AbstractLockspace lockspace;
    protected final String resource;
    protected final long lockId;
    private final BlockingCallback blocking;
    private LockMode granted;
    private Op pending;
    private byte[] lvb = new byte[Lvb.LENGTH];
    private long seq;

    protected AbstractLockHandle(AbstractLockspace lockspace, String resource, long lockId, BlockingCallback blocking) {
        this.lockspace = lockspace;
        this.resource = resource;
        this.lockId = lockId;
        this.blocking = blocking == null ? BlockingCallback.NONE : blocking;
    }

    /** Starts a new request or a conversion; report the result with {@link #complete} or {@link #fail}. */
    protected abstract void sendLock(Op op);

    /** Starts an unlock; report with {@link #complete}(UNLOCKED) or {@link #fail}. */
    protected abstract void sendUnlock(Op op);

    /**
     * Asks the lock manager to cancel {@code op} (a waiting request or conversion). The backend
     * completes {@code op} with CANCELLED, or with GRANTED if the grant came first.
     */
    protected abstract void sendCancel(Op op);

    @Override
    public String resource() {
        return resource;
    }

    @Override
    public Lockspace lockspace() {
        return lockspace;
    }

    /** The lock id (unique within this node). */
    public long lockId() {
        return lockId;
    }

    @Override
    public synchronized LockMode grantedMode() {
        return granted;
    }

    @Override
    public synchronized boolean pending() {
        return pending != null;
    }

    /** The operation in flight, or {@code null}. */
    public synchronized Op pendingOp() {
        return pending;
    }

    @Override
    public CompletableFuture<LockResult> lock(LockMode mode, Duration timeout, LockFlag... flags) {
        if (mode == null) {
            throw new IllegalArgumentException("lock mode must not be null (NL .. EX)");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout
                    + "; every DLM wait needs a deadline");
        }
        EnumSet<LockFlag> set = flagSet(flags);
        checkLockFlags(mode, set);
        Op op;
        synchronized (this) {
            lockspace.checkUsable();
            checkIdle();
            boolean convert = set.contains(LockFlag.CONVERT);
            if (convert && granted == null) {
                throw new IllegalStateException("cannot convert lock on '" + resource + "': it is not held; request it "
                        + "without CONVERT first");
            }
            if (!convert && granted != null) {
                throw new IllegalStateException("lock on '" + resource + "' is already held in " + granted
                        + "; pass LockFlag.CONVERT to convert it, or use another LockHandle for a second lock");
            }
            op = new Op(convert ? Kind.CONVERT : Kind.REQUEST, ++seq, mode, set, lvb.clone());
            pending = op;
        }
        lockspace.countRequest();
        op.sentNanos = System.nanoTime();
        start(op, () -> sendLock(op));
        // The deadline is armed after the send, so that its cancel always finds the request sent.
        ScheduledFuture<?> timer = lockspace.scheduler().schedule(() -> onTimeout(op), timeout.toNanos(),
                TimeUnit.NANOSECONDS);
        op.timer = timer;
        if (op.future.isDone()) {
            timer.cancel(false);
        }
        return op.future;
    }

    @Override
    public CompletableFuture<LockResult> unlock(LockFlag... flags) {
        EnumSet<LockFlag> set = flagSet(flags);
        for (LockFlag f : set) {
            if (f != LockFlag.VALBLK && f != LockFlag.IVVALBLK) {
                throw new IllegalArgumentException("unlock takes only VALBLK or IVVALBLK, not " + f
                        + " (use cancel() for a waiting request)");
            }
        }
        Op op;
        synchronized (this) {
            lockspace.checkUsable();
            checkIdle();
            if (granted == null) {
                throw new IllegalStateException("cannot unlock '" + resource + "': the lock is not held");
            }
            op = new Op(Kind.UNLOCK, ++seq, null, set, lvb.clone());
            pending = op;
        }
        lockspace.countRequest();
        op.sentNanos = System.nanoTime();
        start(op, () -> sendUnlock(op));
        return op.future;
    }

    @Override
    public CompletableFuture<Boolean> cancel() {
        Op op;
        synchronized (this) {
            op = pending;
        }
        if (op == null || op.kind == Kind.UNLOCK) {
            return CompletableFuture.completedFuture(false);
        }
        safeSendCancel(op);
        return op.future.handle((r, t) -> r != null && r.status() == LockStatus.CANCELLED);
    }

    @Override
    public synchronized void setLvb(byte[] value) {
        lvb = Lvb.checked(value);
    }

    @Override
    public synchronized byte[] lvb() {
        return lvb.clone();
    }

    // ---- for backends ---------------------------------------------------------------------

    /**
     * Completes {@code op} (ignored if it is no longer the one in flight, e.g. a grant that
     * raced with a fail). {@code lvbOut} is the LVB read, if any.
     *
     * @return true if this completed the operation
     */
    public boolean complete(Op op, LockStatus status, byte[] lvbOut, boolean valNotValid) {
        LockResult result;
        synchronized (this) {
            if (pending != op) {
                return false;
            }
            pending = null;
            if (op.timer != null) {
                op.timer.cancel(false);
            }
            if (status == LockStatus.CANCELLED && op.timedOut) {
                status = LockStatus.TIMED_OUT;
            }
            switch (status) {
                case GRANTED -> granted = op.mode;
                case UNLOCKED, FAILED -> granted = null;
                default -> { } // NOT_GRANTED, CANCELLED, TIMED_OUT, DEADLOCK: unchanged
            }
            if (lvbOut != null) {
                lvb = lvbOut.clone();
            }
            boolean read = op.flags.contains(LockFlag.VALBLK) && status == LockStatus.GRANTED;
            result = new LockResult(status, granted, read && lvbOut != null ? lvbOut : null,
                    read && valNotValid, null);
        }
        lockspace.requestCompleted(result.status(), op.sentNanos);
        op.future.complete(result);
        return true;
    }

    /** Fails {@code op} (FAILED with {@code cause}); the lock counts as not held afterwards. */
    public boolean fail(Op op, Throwable cause) {
        synchronized (this) {
            if (pending != op) {
                return false;
            }
            pending = null;
            if (op.timer != null) {
                op.timer.cancel(false);
            }
            granted = null;
        }
        lockspace.requestCompleted(LockStatus.FAILED, op.sentNanos);
        op.future.complete(new LockResult(LockStatus.FAILED, null, null, false, cause));
        return true;
    }

    /** The lock was taken away (node fenced, lockspace closed): fail what is pending, forget the mode. */
    public void lost(Throwable cause) {
        Op op;
        synchronized (this) {
            op = pending;
            granted = null;
        }
        if (op != null) {
            fail(op, cause);
        }
    }

    /** Runs the blocking callback (on the backend's event thread). */
    public void deliverBlocking(LockMode mode) {
        try {
            blocking.blocking(this, mode);
        } catch (RuntimeException | Error e) {
            LOG.error("blocking callback of lock '{}' in lockspace '{}' threw", resource, lockspace.name(), e);
        }
    }

    /** The mode the lock was granted before the operation in flight started (for backends). */
    protected synchronized LockMode grantedBefore() {
        return granted;
    }

    // ---- internals ------------------------------------------------------------------------

    private void start(Op op, Runnable send) {
        try {
            send.run();
        } catch (FencedException e) {
            fail(op, e);
        } catch (RuntimeException e) {
            fail(op, e);
            throw e;
        }
    }

    private void onTimeout(Op op) {
        synchronized (this) {
            if (pending != op) {
                return;
            }
            op.timedOut = true;
        }
        safeSendCancel(op);
    }

    private void safeSendCancel(Op op) {
        try {
            sendCancel(op);
        } catch (RuntimeException e) {
            fail(op, e);
        }
    }

    private void checkIdle() {
        if (pending != null) {
            throw new IllegalStateException("lock on '" + resource + "' already has an operation in flight (" + pending
                    + "); the DLM allows one at a time (EBUSY): wait for its future or cancel() it first");
        }
    }

    private static EnumSet<LockFlag> flagSet(LockFlag[] flags) {
        EnumSet<LockFlag> set = EnumSet.noneOf(LockFlag.class);
        for (LockFlag f : flags) {
            if (f == null) {
                throw new IllegalArgumentException("lock flags must not contain null");
            }
            set.add(f);
        }
        return set;
    }

    private void checkLockFlags(LockMode mode, Set<LockFlag> set) {
        Set<LockFlag> supported = lockspace.manager().supportedFlags();
        for (LockFlag f : set) {
            if (!supported.contains(f)) {
                throw new UnsupportedOperationException("the " + lockspace.manager().backend()
                        + " lock manager has no LKF_" + f + "; it supports " + supported);
            }
        }
        if (set.contains(LockFlag.EXPEDITE) && (mode != LockMode.NL || set.contains(LockFlag.CONVERT))) {
            throw new IllegalArgumentException("EXPEDITE is only for new NL requests, not " + mode
                    + (set.contains(LockFlag.CONVERT) ? " conversions" : ""));
        }
        if (set.contains(LockFlag.QUECVT) && !set.contains(LockFlag.CONVERT)) {
            throw new IllegalArgumentException("QUECVT only applies to conversions: add CONVERT or drop QUECVT");
        }
        if (set.contains(LockFlag.NOQUEUEBAST) && !set.contains(LockFlag.NOQUEUE)) {
            throw new IllegalArgumentException("NOQUEUEBAST only applies with NOQUEUE");
        }
        if (set.contains(LockFlag.ORPHAN) && !set.contains(LockFlag.PERSISTENT)) {
            throw new IllegalArgumentException("ORPHAN adopts PERSISTENT locks: add PERSISTENT");
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + lockspace.name() + "/" + resource + " #" + lockId + " " + grantedMode()
                + "]";
    }

    /** Formats flags for messages. */
    protected static String flags(Set<LockFlag> flags) {
        return Arrays.toString(flags.toArray());
    }
}
