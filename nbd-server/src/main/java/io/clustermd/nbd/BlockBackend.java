package io.clustermd.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.CompletableFuture;

/**
 * The storage behind an NBD export: an ops table in the shape of nbdkit's {@code struct
 * nbdkit_plugin} (capabilities {@code can_*}, data callbacks {@code pread/pwrite/flush/trim/zero/
 * cache/extents}). The server owns the protocol and validates every request before calling in
 * (nbdkit's {@code validate_request}): a backend never sees a range outside {@link #size()}, a
 * write on a read-only export, or a flag it did not declare; it never re-validates.
 *
 * <p><b>Asynchronous.</b> Every data call returns a {@link CompletableFuture} that the backend may
 * complete on any thread (its own I/O threads, a RAID engine's completion thread) or before
 * returning. Failures complete the future exceptionally, preferably with a {@link BackendException}
 * carrying the NBD error; any other exception is answered with EIO. Calls are made from the
 * server's event loops and must not block for long.
 *
 * <p><b>Buffers.</b> The server allocates every data buffer with {@link #allocateBuffer(int)}, so a
 * backend that needs aligned memory (O_DIRECT) gets it without a copy. In {@link #pread} the backend
 * writes exactly {@code length} bytes at {@code dst}'s writer index; in {@link #pwrite} it reads the
 * readable bytes of {@code src}. The server keeps ownership of both and releases them after the
 * future completes: a backend that needs a buffer longer must retain it.
 *
 * <p><b>Flags</b> are nbdkit's: {@link #FLAG_FUA} (the data is durable when the future completes),
 * {@link #FLAG_MAY_TRIM} (zero may punch holes), {@link #FLAG_FAST_ZERO} (zero must fail with
 * ENOTSUP rather than be slower than a write).
 *
 * <p><b>Multi-connection.</b> {@link #canMultiConn()} means one durability domain: a flush on any
 * connection covers writes completed on every connection.
 */
public interface BlockBackend extends AutoCloseable {

    /** Force unit access: complete only once the data is on stable storage. */
    int FLAG_FUA = 1;
    /** WRITE_ZEROES without NO_HOLE: the backend may deallocate the range. */
    int FLAG_MAY_TRIM = 2;
    /** WRITE_ZEROES with FAST_ZERO: fail with ENOTSUP instead of zeroing slowly. */
    int FLAG_FAST_ZERO = 4;

    /** Size of the export in bytes. */
    long size();

    default boolean isReadOnly() { return false; }
    default boolean canFlush() { return false; }
    default boolean canFua() { return false; }
    default boolean canTrim() { return false; }
    default boolean canZero() { return false; }
    default boolean canFastZero() { return false; }
    default boolean canCache() { return false; }
    default boolean canMultiConn() { return false; }
    /** Hint for clients (NBD_FLAG_ROTATIONAL). */
    default boolean isRotational() { return false; }

    /** Smallest request granularity; a power of two from 1 to 65536. */
    default int minimumBlockSize() { return 1; }
    /** Preferred request granularity; a power of two, at least 512 and at least the minimum. */
    default int preferredBlockSize() { return 4096; }
    /** Largest READ/WRITE payload; at least the preferred size. */
    default int maximumPayload() { return 32 << 20; }

    /** A buffer of exactly {@code capacity} bytes suitable for this backend's I/O. */
    default ByteBuf allocateBuffer(int capacity) {
        return PooledByteBufAllocator.DEFAULT.directBuffer(capacity, capacity);
    }

    /** Reads {@code length} bytes at {@code offset} into {@code dst} (at its writer index). */
    CompletableFuture<Void> pread(ByteBuf dst, long offset, int length, int flags);

    /** Writes the readable bytes of {@code src} at {@code offset}. */
    CompletableFuture<Void> pwrite(ByteBuf src, long offset, int flags);

    /** Makes every write completed so far durable. */
    default CompletableFuture<Void> flush(int flags) {
        return CompletableFuture.failedFuture(new BackendException(BackendException.EINVAL, "flush is not supported"));
    }

    /** Discards a range (advisory; its contents are undefined afterwards). */
    default CompletableFuture<Void> trim(long offset, long length, int flags) {
        return CompletableFuture.failedFuture(new BackendException(BackendException.EINVAL, "trim is not supported"));
    }

    /** Makes a range read as zeroes. */
    default CompletableFuture<Void> zero(long offset, long length, int flags) {
        return CompletableFuture.failedFuture(new BackendException(BackendException.EINVAL, "zero is not supported"));
    }

    /** Prefetches a range (advisory). */
    default CompletableFuture<Void> cache(long offset, long length, int flags) {
        return CompletableFuture.completedFuture(null);
    }

    /** Releases the backend's resources. */
    @Override
    default void close() throws Exception {}
}
