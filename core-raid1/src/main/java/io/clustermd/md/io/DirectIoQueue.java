package io.clustermd.md.io;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * An asynchronous submission queue for a member's aligned O_DIRECT transfers: the block layer's request queue as
 * md sees it ({@code submit_bio} returns at once, {@code bi_end_io} runs later on the submitting CPU). The daemon
 * implements it on the io_uring of the NBD event loop that carries the request, so a member write issued while
 * serving an NBD request is submitted and completed on that same thread, with no hand-off to an I/O thread.
 *
 * <p>Results are the kernel's: a byte count (possibly short), 0 at end of file, or {@code -errno}. A future
 * that fails means the queue itself went away (its event loop shut down).
 */
public interface DirectIoQueue {

    /**
     * True when an operation submitted from the calling thread needs no thread hand-off. When false, the device
     * runs the operation on its own I/O threads instead, exactly as without a queue.
     */
    boolean servesCurrentThread();

    /** pread into {@code dst}'s remaining bytes (a direct buffer; its position is not moved). */
    CompletableFuture<Integer> read(int fd, ByteBuffer dst, long offset);

    /** pwrite of {@code src}'s remaining bytes (a direct buffer); {@code dsync}: durable on completion (FUA). */
    CompletableFuture<Integer> write(int fd, ByteBuffer src, long offset, boolean dsync);

    /** fdatasync(fd). */
    CompletableFuture<Integer> fdatasync(int fd);
}
