package io.clustermd.nbd.file;

import io.clustermd.nbd.BackendException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.uring.IoUringIoEvent;
import io.netty.channel.uring.IoUringIoHandle;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoOps;
import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * File I/O submitted to the io_uring of the Netty event loop that is serving the request (what
 * qemu-nbd's {@code aio=io_uring} does in its main loop): the read or write is queued on the same
 * ring as the socket, and its completion runs on the same thread, so a request never changes thread
 * and never blocks one. One {@link IoUringIoHandle} is registered per event loop of the group.
 *
 * <p>Ops: IORING_OP_READ / WRITE at an offset (FUA = {@code RWF_DSYNC}), FSYNC with
 * {@code IORING_FSYNC_DATASYNC}, FALLOCATE (punch hole, zero range), OPENAT to get an O_DIRECT
 * descriptor (the JDK does not expose its own).
 */
final class UringFileIo implements AutoCloseable {
    // io_uring opcodes (include/uapi/linux/io_uring.h)
    private static final byte IORING_OP_FSYNC = 3;
    private static final byte IORING_OP_FALLOCATE = 17;
    private static final byte IORING_OP_OPENAT = 18;
    private static final byte IORING_OP_READ = 22;
    private static final byte IORING_OP_WRITE = 23;
    private static final int IORING_FSYNC_DATASYNC = 1;
    private static final int RWF_DSYNC = 2;
    // open(2) flags and fallocate(2) modes on Linux x86-64/arm64
    private static final int O_RDONLY = 0;
    private static final int O_RDWR = 2;
    private static final int O_DIRECT = 0x4000;
    private static final int O_CLOEXEC = 0x80000;
    private static final int AT_FDCWD = -100;
    static final int FALLOC_FL_KEEP_SIZE = 1;
    static final int FALLOC_FL_PUNCH_HOLE = 2;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;

    private final Path path;
    private final List<Ring> rings = new ArrayList<>();
    private final FileDescriptor fd;

    /** Whether io_uring can be used (kernel support, native library). */
    static boolean isAvailable() {
        return io.netty.channel.uring.IoUring.isAvailable();
    }

    UringFileIo(Path path, EventLoopGroup group, boolean readOnly, boolean direct) throws IOException {
        this.path = path;
        try {
            for (EventExecutor e : group) {
                IoEventLoop loop = (IoEventLoop) e;
                if (!loop.isIoType(IoUringIoHandler.class)) {
                    throw new IOException("the event loops are not io_uring loops");
                }
                Ring r = new Ring(loop);
                r.registration = loop.register(r).get(30, TimeUnit.SECONDS);
                rings.add(r);
            }
            if (rings.isEmpty()) {
                throw new IOException("no event loop to submit file I/O on");
            }
            int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
            int res = rings.get(0).openat(path, flags).get(30, TimeUnit.SECONDS);
            if (res < 0) {
                throw new IOException("cannot open " + path + (direct ? " with O_DIRECT" : "") + ": " + errnoName(-res));
            }
            fd = new FileDescriptor(res);
        } catch (IOException e) {
            close();
            throw e;
        } catch (Exception e) {
            close();
            throw new IOException("cannot set up io_uring file I/O for " + path + ": " + e, e);
        }
    }

    /** The ring of the calling event loop, or null when called from another thread. */
    private Ring current() {
        for (Ring r : rings) {
            if (r.loop.inEventLoop()) {
                return r;
            }
        }
        return null;
    }

    private CompletableFuture<Integer> submit(Op op) {
        Ring r = current();
        if (r != null) {
            r.submit(op);
        } else {
            // Not on one of our loops (e.g. a caller's own thread): hand it to the first loop.
            Ring first = rings.get(0);
            first.loop.execute(() -> first.submit(op));
        }
        return op.done;
    }

    CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        return transfer(IORING_OP_READ, dst, offset, 0);
    }

    CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        return transfer(IORING_OP_WRITE, src, offset, fua ? RWF_DSYNC : 0);
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
        Op op = new Op(opcode, fd.intValue(), offset, address, length, rwFlags, keepAlive);
        submit(op).whenComplete((res, ex) -> {
            if (ex != null) {
                all.completeExceptionally(ex);
            } else if (res == -EINTR || res == -EAGAIN) {
                transferFrom(all, opcode, keepAlive, address, offset, length, rwFlags);
            } else if (res < 0) {
                all.completeExceptionally(new BackendException(errnoToNbd(-res),
                        path + ": " + (opcode == IORING_OP_READ ? "read" : "write") + " at " + offset + ": " + errnoName(-res)));
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

    CompletableFuture<Void> fdatasync() {
        return simple(new Op(IORING_OP_FSYNC, fd.intValue(), 0, 0, 0, IORING_FSYNC_DATASYNC, null), "fdatasync");
    }

    /** fallocate(2): the io_uring SQE carries the length in addr and the mode in len. */
    CompletableFuture<Void> fallocate(int mode, long offset, long length) {
        return simple(new Op(IORING_OP_FALLOCATE, fd.intValue(), offset, length, mode, 0, null), "fallocate");
    }

    private CompletableFuture<Void> simple(Op op, String what) {
        return submit(op).thenCompose(res -> {
            if (res < 0) {
                return CompletableFuture.failedFuture(new BackendException(errnoToNbd(-res), path + ": " + what + ": " + errnoName(-res)));
            }
            return CompletableFuture.completedFuture(null);
        });
    }

    @Override
    public void close() {
        for (Ring r : rings) {
            if (r.registration != null) {
                r.loop.execute(r.registration::cancel);
            }
        }
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

    /** One request in flight on a ring. */
    private static final class Op {
        final byte opcode;
        final int fd;
        final long offset;
        final long address;
        final int length;
        final int flags;
        final Object keepAlive;
        final CompletableFuture<Integer> done = new CompletableFuture<>();

        Op(byte opcode, int fd, long offset, long address, int length, int flags, Object keepAlive) {
            this.opcode = opcode;
            this.fd = fd;
            this.offset = offset;
            this.address = address;
            this.length = length;
            this.flags = flags;
            this.keepAlive = keepAlive;
        }
    }

    /** Our handle on one event loop's io_uring: a slot table indexed by the SQE's 16-bit data. */
    private static final class Ring implements IoUringIoHandle {
        private static final int SLOTS = 1 << 15;
        final IoEventLoop loop;
        IoRegistration registration;
        private final Op[] slots = new Op[SLOTS];
        private final ArrayDeque<Short> free = new ArrayDeque<>();
        private final ArrayDeque<Op> waiting = new ArrayDeque<>();

        Ring(IoEventLoop loop) {
            this.loop = loop;
            for (int i = 0; i < SLOTS; i++) {
                free.add((short) i);
            }
        }

        /** On the loop. */
        void submit(Op op) {
            Short slot = free.poll();
            if (slot == null) {
                waiting.add(op);
                return;
            }
            slots[slot] = op;
            try {
                registration.submit(new IoUringIoOps(op.opcode, (byte) 0, (short) 0, op.fd, op.offset, op.address,
                        op.length, op.flags, slot, (short) 0, (short) 0, 0, 0L));
            } catch (RuntimeException e) {
                // The ring is gone (event loop shut down): fail the request instead of losing it.
                slots[slot] = null;
                free.push(slot);
                op.done.completeExceptionally(new BackendException(BackendException.ESHUTDOWN, "file I/O ring closed: " + e));
            }
        }

        CompletableFuture<Integer> openat(Path path, int flags) {
            byte[] p = path.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
            ByteBuffer name = ByteBuffer.allocateDirect(p.length + 1);
            name.put(p).put((byte) 0).flip();
            Op op = new Op(IORING_OP_OPENAT, AT_FDCWD, 0, Buffer.memoryAddress(name), 0, flags, name);
            loop.execute(() -> submit(op));
            return op.done;
        }

        @Override
        public void handle(IoRegistration reg, IoEvent event) {
            IoUringIoEvent e = (IoUringIoEvent) event;
            int slot = e.data() & 0xffff;
            Op op = slots[slot];
            if (op == null) {
                return;
            }
            slots[slot] = null;
            free.push((short) slot);
            op.done.complete(e.res());
            Op next = waiting.poll();
            if (next != null) {
                submit(next);
            }
        }

        @Override
        public void close() {
            for (int i = 0; i < SLOTS; i++) {
                Op op = slots[i];
                if (op != null) {
                    slots[i] = null;
                    op.done.completeExceptionally(new BackendException(BackendException.ESHUTDOWN, "file I/O ring closed"));
                }
            }
            for (Op op; (op = waiting.poll()) != null; ) {
                op.done.completeExceptionally(new BackendException(BackendException.ESHUTDOWN, "file I/O ring closed"));
            }
        }
    }
}
