package io.clustermd.md.io;

import io.clustermd.md.io.MemberIoException.Reason;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * A member that fails on command: md's test equivalent of a failing disk (dm-flakey, dm-error, the md
 * {@code faulty} personality). Wraps any {@link MemberDevice}; the {@link FaultPlan} can be switched at any time
 * from any thread and takes effect for operations submitted afterwards.
 *
 * <p>An injected fault looks like a real one: the operation is not passed to the wrapped device, and its future
 * completes exceptionally, on {@code executor} (never in the submitting thread, as a real device never completes
 * inline), with a {@link MemberIoException} of reason {@link Reason#IO_ERROR} whose cause is an
 * {@code IOException("Input/output error")}, exactly what the JDK throws for EIO. Injected faults are counted
 * per operation ({@link #injectedFaults(MemberOp)}) and in {@link #stats()}' error count.
 */
public final class FaultInjectingMemberDevice extends ForwardingMemberDevice {
    /** glibc's strerror(EIO), which is what a real failing member's JDK exception says. */
    static final String EIO_TEXT = "Input/output error";

    /** The installed plan and its own countdown for {@link FaultPlan#afterOperations()}. */
    private record Armed(FaultPlan plan, AtomicLong remaining) {
    }

    private final Executor executor;
    private final AtomicReference<Armed> armed;
    private final Map<MemberOp, LongAdder> injected = new EnumMap<>(MemberOp.class);

    /**
     * @param delegate the real device
     * @param executor delivers injected failures (use the same I/O executor as the delegate)
     */
    public FaultInjectingMemberDevice(MemberDevice delegate, Executor executor) {
        super(Objects.requireNonNull(delegate, "delegate"));
        this.executor = Objects.requireNonNull(executor, "executor");
        this.armed = new AtomicReference<>(arm(FaultPlan.healthy()));
        for (MemberOp op : MemberOp.values()) {
            injected.put(op, new LongAdder());
        }
    }

    private static Armed arm(FaultPlan plan) {
        return new Armed(plan, new AtomicLong(plan.afterOperations()));
    }

    /** Writes at or past this byte wait for {@link #stallGate} (a disk that takes them and answers late). */
    private volatile long stallFrom = Long.MAX_VALUE;
    private volatile CompletableFuture<Void> stallGate = CompletableFuture.completedFuture(null);

    /** Installs a plan; its "after N operations" countdown starts now. Stalled writes go ahead. */
    public void setPlan(FaultPlan plan) {
        armed.set(arm(Objects.requireNonNull(plan, "plan")));
        resumeWrites();
    }

    /**
     * Writes that start at or past {@code fromByte} are held, neither done nor failed, until the next
     * {@link #setPlan}: a leg whose queue is slow, so that a process killed meanwhile leaves its writes on
     * the other legs only (what a resync after a crash exists for). Writes before it (superblocks, bitmap)
     * go on.
     */
    public void stallWrites(long fromByte) {
        if (stallGate.isDone()) {
            stallGate = new CompletableFuture<>();
        }
        stallFrom = fromByte;
    }

    private void resumeWrites() {
        stallFrom = Long.MAX_VALUE;
        stallGate.complete(null);
    }

    public FaultPlan plan() {
        return armed.get().plan();
    }

    /** The wrapped device. */
    public MemberDevice delegate() {
        return delegate;
    }

    /** Faults injected so far for one kind of operation. */
    public long injectedFaults(MemberOp op) {
        return injected.get(op).sum();
    }

    /** Faults injected so far, all operations. */
    public long injectedFaults() {
        long n = 0;
        for (LongAdder a : injected.values()) {
            n += a.sum();
        }
        return n;
    }

    @Override
    protected CompletableFuture<Void> intercept(MemberOp op, long offset, long length) {
        return maybeFail(op, offset, length);
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        if (offset >= stallFrom) {
            return stallGate.thenCompose(v -> write(src, offset, fua));
        }
        return super.write(src, offset, fua);
    }

    /** The delegate's counters with the injected faults added to {@code errors}. */
    @Override
    public MemberIoStats stats() {
        MemberIoStats s = delegate.stats();
        return new MemberIoStats(s.reads(), s.writes(), s.bytesRead(), s.bytesWritten(), s.flushes(), s.discards(),
                s.writeZeroes(), s.errors() + injectedFaults(), s.misalignedRequests(), s.bufferBounces(),
                s.zeroFillFallbacks());
    }

    @Override
    public String toString() {
        return "FaultInjecting[" + delegate + ", " + plan() + "]";
    }

    /** A failed future if the plan hits this operation, else null (pass it on). */
    private CompletableFuture<Void> maybeFail(MemberOp op, long offset, long length) {
        Armed a = armed.get();
        if (!a.plan().matches(op, offset, length)) {
            return null;
        }
        // Count down the operations that may still pass; once at zero, stay there and fail.
        long left = a.remaining().getAndUpdate(v -> v > 0 ? v - 1 : 0);
        if (left > 0) {
            return null;
        }
        injected.get(op).increment();
        MemberIoException e = new MemberIoException(delegate.name(), op, offset, length, Reason.IO_ERROR,
                EIO_TEXT, new IOException(EIO_TEXT));
        CompletableFuture<Void> f = new CompletableFuture<>();
        try {
            executor.execute(() -> f.completeExceptionally(e));
        } catch (RejectedExecutionException r) {
            f.completeExceptionally(e);
        }
        return f;
    }
}
