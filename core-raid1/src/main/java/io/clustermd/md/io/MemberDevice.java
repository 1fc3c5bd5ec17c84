package io.clustermd.md.io;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * One member disk's I/O: md's {@code struct md_rdev} as far as the personalities use it, i.e. bio submission
 * ({@code submit_bio} on {@code rdev->bdev}) with a completion ({@code bi_end_io}). An ops table so files,
 * block devices and test doubles (the fault-injecting decorator, dm-flakey's role) stand in for each other.
 *
 * <p><b>Asynchrony.</b> Data operations return at once; the returned future completes when the operation has
 * completed on the device, normally on one of the implementation's I/O threads, so a dependent stage added
 * with a non-{@code Async} method runs on that thread and must not block for long. Failures complete the future
 * exceptionally with a {@link MemberIoException} (wrapped in a {@code CompletionException} by {@code join} and by
 * dependent stages, as CompletableFuture always does). Operations are never thrown synchronously: a bad range,
 * a closed device or a read-only device also arrive as a failed future. Operations in flight at the same time
 * are unordered, as bios are: a caller that needs ordering waits for completion (md does the same).
 *
 * <p><b>Buffers</b> stay owned by the caller. The device uses the bytes between {@code position} and
 * {@code limit} and never changes the buffer's position, limit or mark (it works on a duplicate); it touches
 * the contents only until the future completes and keeps no reference afterwards. The caller must not change a
 * write's bytes, or read a read's bytes, before completion. Any buffer works; buffers from {@link #allocate}
 * with offsets and lengths that are multiples of {@link #alignment()} take the fast path (no copy).
 */
public interface MemberDevice extends AutoCloseable {

    /** The name used in messages and logs: the path the device was opened by. */
    String name();

    /** Size in bytes, fixed when the device was opened (md's {@code rdev->sectors} before the data offset). */
    long sizeBytes();

    /**
     * The granularity at which I/O goes to the device without a copy (4096 with O_DIRECT, 1 in buffered mode):
     * offsets, lengths and buffer addresses that are multiples of it avoid bouncing.
     */
    int alignment();

    /**
     * A new direct buffer of {@code bytes} capacity whose memory is aligned to {@link #alignment()} (at least 4096).
     */
    ByteBuffer allocate(int bytes);

    /** Reads {@code dst.remaining()} bytes at {@code offset} into dst; a short read (past the end) is an error. */
    CompletableFuture<Void> read(ByteBuffer dst, long offset);

    /**
     * Writes {@code src.remaining()} bytes at {@code offset}. With {@code fua} (REQ_FUA) the data is durable
     * when the future completes; without it, only after a later {@link #flush()}.
     */
    CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua);

    /** Makes every completed write durable (REQ_PREFLUSH; fdatasync on the member). */
    CompletableFuture<Void> flush();

    /**
     * Deallocates the range (REQ_OP_DISCARD: punch hole on files, discard on block devices); afterwards the range
     * reads back as zeroes on every implementation, so mirrors stay identical. Durable after {@link #flush()}.
     */
    CompletableFuture<Void> discard(long offset, long length);

    /** Makes the range read back as zeroes (REQ_OP_WRITE_ZEROES), keeping it allocated where the device can. */
    CompletableFuture<Void> writeZeroes(long offset, long length);

    /** Counters of this device's operations (md's per-rdev statistics). */
    MemberIoStats stats();

    /**
     * Stops accepting operations (later ones fail with {@link MemberIoException.Reason#CLOSED}), waits until every
     * operation already accepted has completed its future, then releases the device. A second call returns at
     * once. May be called from a completion callback of this device; must not be called from one of its I/O
     * threads while other operations are still queued behind it (it would wait for itself).
     */
    @Override
    void close();
}
