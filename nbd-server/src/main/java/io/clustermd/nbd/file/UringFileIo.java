package io.clustermd.nbd.file;

import io.clustermd.nbd.BackendException;
import io.clustermd.nbd.uring.IoUringQueue;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * File I/O submitted to the io_uring of the Netty event loop that is serving the request (what
 * qemu-nbd's {@code aio=io_uring} does in its main loop): the read or write is queued on the same
 * ring as the socket, and its completion runs on the same thread, so a request never changes thread
 * and never blocks one.
 *
 * <p>Ops: IORING_OP_READ / WRITE at an offset (FUA = {@code RWF_DSYNC}), FSYNC with
 * {@code IORING_FSYNC_DATASYNC}, FALLOCATE (punch hole, zero range), OPENAT to get an O_DIRECT
 * descriptor (the JDK does not expose its own), all through {@link IoUringQueue}.
 */
final class UringFileIo implements AutoCloseable {
    // open(2) flags and fallocate(2) modes on Linux (O_DIRECT is per architecture)
    private static final int O_RDONLY = 0;
    private static final int O_RDWR = 2;
    private static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0x10000 : 0x4000;
    private static final int O_CLOEXEC = 0x80000;
    static final int FALLOC_FL_KEEP_SIZE = 1;
    static final int FALLOC_FL_PUNCH_HOLE = 2;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;

    private final Path path;
    private final IoUringQueue queue;
    private final FileDescriptor fd;

    /** Whether io_uring can be used (kernel support, native library). */
    static boolean isAvailable() {
        return IoUringQueue.isAvailable();
    }

    UringFileIo(Path path, EventLoopGroup group, boolean readOnly, boolean direct) throws IOException {
        this.path = path;
        this.queue = new IoUringQueue(group);
        try {
            int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
            int res = queue.openat(path, flags).get(30, TimeUnit.SECONDS);
            if (res < 0) {
                throw new IOException("cannot open " + path + (direct ? " with O_DIRECT" : "") + ": " + errnoName(-res));
            }
            fd = new FileDescriptor(res);
        } catch (IOException e) {
            queue.close();
            throw e;
        } catch (Exception e) {
            queue.close();
            throw new IOException("cannot set up io_uring file I/O for " + path + ": " + e, e);
        }
    }

    CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        return transfer(IoUringQueue.IORING_OP_READ, dst, offset, 0);
    }

    CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        return transfer(IoUringQueue.IORING_OP_WRITE, src, offset, fua ? IoUringQueue.RWF_DSYNC : 0);
    }

    /** Reads or writes all of {@code bb}, resubmitting the rest after a short transfer. */
    private CompletableFuture<Void> transfer(byte opcode, ByteBuffer bb, long offset, int rwFlags) {
        CompletableFuture<Void> all = new CompletableFuture<>();
        long address = Buffer.memoryAddress(bb) + bb.position();
        transferFrom(all, opcode, bb, address, offset, bb.remaining(), rwFlags);
        return all;
    }

    private void transferFrom(CompletableFuture<Void> all, byte opcode, ByteBuffer keepAlive, long address, long offset,
                              int length, int rwFlags) {
        queue.submit(opcode, fd.intValue(), offset, address, length, rwFlags, keepAlive).whenComplete((res, ex) -> {
            if (ex != null) {
                all.completeExceptionally(shutdownOr(ex));
            } else if (res == -EINTR || res == -EAGAIN) {
                transferFrom(all, opcode, keepAlive, address, offset, length, rwFlags);
            } else if (res < 0) {
                all.completeExceptionally(new BackendException(errnoToNbd(-res),
                        path + ": " + (opcode == IoUringQueue.IORING_OP_READ ? "read" : "write") + " at " + offset + ": " + errnoName(-res)));
            } else if (res == 0) {
                all.completeExceptionally(new BackendException(BackendException.EIO,
                        path + ": unexpected end of file at " + offset + " (the file shrank while served?)"));
            } else if (res < length) {
                transferFrom(all, opcode, keepAlive, address + res, offset + res, length - res, rwFlags);
            } else {
                all.complete(null);
            }
        });
    }

    private static Throwable shutdownOr(Throwable ex) {
        return ex instanceof IoUringQueue.RingClosedException
                ? new BackendException(BackendException.ESHUTDOWN, "file I/O ring closed") : ex;
    }

    CompletableFuture<Void> fdatasync() {
        return simple(queue.fdatasync(fd.intValue()), "fdatasync");
    }

    CompletableFuture<Void> fallocate(int mode, long offset, long length) {
        return simple(queue.fallocate(fd.intValue(), mode, offset, length), "fallocate");
    }

    private CompletableFuture<Void> simple(CompletableFuture<Integer> op, String what) {
        return op.handle((res, ex) -> {
            if (ex != null) {
                throw new java.util.concurrent.CompletionException(shutdownOr(ex));
            }
            if (res < 0) {
                throw new java.util.concurrent.CompletionException(
                        new BackendException(errnoToNbd(-res), path + ": " + what + ": " + errnoName(-res)));
            }
            return (Void) null;
        });
    }

    @Override
    public void close() {
        queue.close();
        if (fd != null) {
            try {
                fd.close();
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    private static int errnoToNbd(int errno) {
        return switch (errno) {
            case 28, 122 -> BackendException.ENOSPC;   // ENOSPC, EDQUOT
            case 95 -> BackendException.ENOTSUP;        // EOPNOTSUPP
            case 22 -> BackendException.EINVAL;
            case 1, 13, 30 -> BackendException.EPERM;   // EPERM, EACCES, EROFS
            default -> BackendException.EIO;
        };
    }

    static String errnoName(int errno) {
        return switch (errno) {
            case 1 -> "EPERM";
            case 2 -> "ENOENT (no such file)";
            case 5 -> "EIO (I/O error)";
            case 13 -> "EACCES (permission denied)";
            case 22 -> "EINVAL (invalid argument; O_DIRECT not supported by this file system?)";
            case 28 -> "ENOSPC (no space left on device)";
            case 30 -> "EROFS (read-only file system)";
            case 95 -> "EOPNOTSUPP (not supported by this file system)";
            default -> "errno " + errno;
        };
    }
}
