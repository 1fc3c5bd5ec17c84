package io.clustermd.nbd.memory;

import io.clustermd.nbd.BackendException;
import io.clustermd.nbd.BlockBackend;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * A RAM disk (nbdkit's {@code memory} plugin): every capability, completes on the given executor
 * (the caller's thread by default), and can be told to fail I/O at one offset, so tests can drive
 * every reply path of the server against a known model.
 */
public class MemoryBackend implements BlockBackend {
    private final byte[] data;
    private final Executor executor;
    private final boolean readOnly;
    private volatile long failAt = -1;
    private volatile int failErrno = BackendException.EIO;

    public MemoryBackend(int size) {
        this(size, Runnable::run, false);
    }

    /**
     * @param executor where completions run: {@code Runnable::run} for inline, a pool to exercise
     *                 completion off the event loop
     */
    public MemoryBackend(int size, Executor executor, boolean readOnly) {
        if (size < 0) {
            throw new IllegalArgumentException("size " + size + " (expected: >= 0)");
        }
        this.data = new byte[size];
        this.executor = executor;
        this.readOnly = readOnly;
    }

    /** Every request touching {@code offset} fails with {@code errno} (-1 turns it off). */
    public void failAt(long offset, int errno) {
        this.failErrno = errno;
        this.failAt = offset;
    }

    /** A copy of the contents (for tests). */
    public synchronized byte[] snapshot() {
        return data.clone();
    }

    @Override public long size() { return data.length; }
    @Override public boolean isReadOnly() { return readOnly; }
    @Override public boolean canFlush() { return true; }
    @Override public boolean canFua() { return true; }
    @Override public boolean canTrim() { return true; }
    @Override public boolean canZero() { return true; }
    @Override public boolean canFastZero() { return true; }
    @Override public boolean canCache() { return true; }
    @Override public boolean canMultiConn() { return true; }

    @Override
    public ByteBuf allocateBuffer(int capacity) {
        return Unpooled.directBuffer(capacity, capacity);
    }

    private CompletableFuture<Void> run(long offset, long length, Runnable op) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        executor.execute(() -> {
            long fa = failAt;
            if (fa >= 0 && fa >= offset && fa < offset + Math.max(1, length)) {
                f.completeExceptionally(new BackendException(failErrno, "injected failure at offset " + fa));
                return;
            }
            try {
                op.run();
                f.complete(null);
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    @Override
    public CompletableFuture<Void> pread(ByteBuf dst, long offset, int length, int flags) {
        return run(offset, length, () -> {
            synchronized (this) {
                dst.writeBytes(data, (int) offset, length);
            }
        });
    }

    @Override
    public CompletableFuture<Void> pwrite(ByteBuf src, long offset, int flags) {
        return run(offset, src.readableBytes(), () -> {
            synchronized (this) {
                src.getBytes(src.readerIndex(), data, (int) offset, src.readableBytes());
            }
        });
    }

    @Override
    public CompletableFuture<Void> flush(int flags) {
        return run(-2, 0, () -> { });
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length, int flags) {
        return zero(offset, length, flags);
    }

    @Override
    public CompletableFuture<Void> zero(long offset, long length, int flags) {
        return run(offset, length, () -> {
            synchronized (this) {
                Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
            }
        });
    }

    @Override
    public CompletableFuture<Void> cache(long offset, long length, int flags) {
        return run(offset, length, () -> { });
    }
}
