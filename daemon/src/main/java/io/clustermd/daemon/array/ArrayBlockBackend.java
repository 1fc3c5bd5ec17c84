package io.clustermd.daemon.array;

import io.clustermd.daemon.metrics.IoMetrics;
import io.clustermd.md.array.ArrayIoException;
import io.clustermd.md.array.MdArray;
import io.clustermd.nbd.BackendException;
import io.clustermd.nbd.BlockBackend;
import io.clustermd.nbd.file.AlignedBufferPool;
import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The array as an NBD export: what /dev/mdX is to the kernel's block layer. Buffers come from the
 * aligned pool so member I/O goes to the disks with O_DIRECT and no copy; array errors become EIO.
 */
public final class ArrayBlockBackend implements BlockBackend {

    private final MdArray array;
    private final IoMetrics metrics;

    public ArrayBlockBackend(MdArray array) {
        this(array, IoMetrics.NONE);
    }

    public ArrayBlockBackend(MdArray array, IoMetrics metrics) {
        this.array = array;
        this.metrics = metrics;
    }

    @Override
    public long size() {
        return array.size();
    }

    @Override public boolean canFlush() { return true; }
    @Override public boolean canFua() { return true; }
    @Override public boolean canTrim() { return true; }
    @Override public boolean canZero() { return true; }
    /** Every member's flush covers writes from every connection: one durability domain. */
    @Override public boolean canMultiConn() { return true; }
    @Override public int minimumBlockSize() { return 512; }
    @Override public int preferredBlockSize() { return 4096; }

    @Override
    public ByteBuf allocateBuffer(int capacity) {
        return AlignedBufferPool.SHARED.allocate(capacity);
    }

    @Override
    public CompletableFuture<Void> pread(ByteBuf dst, long offset, int length, int flags) {
        ByteBuffer target = dst.nioBuffer(dst.writerIndex(), length);
        long start = metrics.start();
        return metrics.record(IoMetrics.Op.READ, length, start, mapErrors(array.read(target, offset)
                .thenRun(() -> dst.writerIndex(dst.writerIndex() + length))));
    }

    @Override
    public CompletableFuture<Void> pwrite(ByteBuf src, long offset, int flags) {
        ByteBuffer source = src.nioBuffer(src.readerIndex(), src.readableBytes());
        long start = metrics.start();
        return metrics.record(IoMetrics.Op.WRITE, source.remaining(), start,
                mapErrors(array.write(source, offset, (flags & FLAG_FUA) != 0)));
    }

    @Override
    public CompletableFuture<Void> flush(int flags) {
        long start = metrics.start();
        return metrics.record(IoMetrics.Op.FLUSH, 0, start, mapErrors(array.flush()));
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length, int flags) {
        long start = metrics.start();
        CompletableFuture<Void> f = array.trim(offset, length);
        return metrics.record(IoMetrics.Op.TRIM, length, start,
                mapErrors((flags & FLAG_FUA) != 0 ? f.thenCompose(v -> array.flush()) : f));
    }

    @Override
    public CompletableFuture<Void> zero(long offset, long length, int flags) {
        long start = metrics.start();
        CompletableFuture<Void> f = array.writeZeroes(offset, length);
        return metrics.record(IoMetrics.Op.WRITE_ZEROES, length, start,
                mapErrors((flags & FLAG_FUA) != 0 ? f.thenCompose(v -> array.flush()) : f));
    }

    private static CompletableFuture<Void> mapErrors(CompletableFuture<Void> f) {
        return f.exceptionallyCompose(e -> {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            int errno = cause instanceof ArrayIoException a && a.isStopping()
                    ? BackendException.ESHUTDOWN : BackendException.EIO;
            return CompletableFuture.failedFuture(new BackendException(errno, cause.getMessage()));
        });
    }
}
