package io.clustermd.nbd.uring;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.uring.IoUringIoEvent;
import io.netty.channel.uring.IoUringIoHandle;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoOps;
import io.netty.channel.unix.Buffer;
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
 * A submission queue for file operations on the io_uring rings of a group of Netty io_uring event loops (the
 * io_uring counterpart of QEMU's {@code LuringState}, one per event loop). An operation submitted from one of
 * the loops goes on that loop's ring and completes on the same thread, so a request that arrived on a socket
 * of that loop never changes thread; an operation submitted from any other thread is handed to the first loop.
 *
 * <p>Completions carry the kernel's {@code cqe->res}: a byte count, a descriptor, 0, or {@code -errno}. The
 * caller handles short transfers and retries; this class only submits, completes, and fails what is pending
 * with {@link RingClosedException} when a loop shuts down.
 */
public final class IoUringQueue implements AutoCloseable {
    // io_uring opcodes (include/uapi/linux/io_uring.h)
    public static final byte IORING_OP_FSYNC = 3;
    public static final byte IORING_OP_FALLOCATE = 17;
    public static final byte IORING_OP_OPENAT = 18;
    public static final byte IORING_OP_READ = 22;
    public static final byte IORING_OP_WRITE = 23;
    /** {@code fsync_flags}: fdatasync instead of fsync. */
    public static final int IORING_FSYNC_DATASYNC = 1;
    /** {@code rw_flags}: this write is durable on completion (pwritev2's RWF_DSYNC, a FUA write). */
    public static final int RWF_DSYNC = 2;
    private static final int AT_FDCWD = -100;
    /** {@code IOSQE_ASYNC}: the kernel issues this SQE from an io-wq worker instead of inline. */
    static final byte IOSQE_ASYNC = 1 << 4;
    /**
     * Reads of at least this many bytes are issued with {@link #IOSQE_ASYNC}. Every SQE of one submission is
     * issued under one block plug, which glues adjacent reads into one request of up to {@code max_sectors_kb}
     * (4 MiB on virtio): eight 1 MiB sequential reads reach the disk as two 4 MiB ones, and the disk finishes
     * them later than it would the eight. An io-wq worker issues each read on its own, as QEMU's one
     * submission per request does. Writes are left to merge: larger writes were faster on the same disk.
     * Smaller reads stay inline, where the worker's hand-off would be a larger share of each read's time.
     */
    public static final int ASYNC_READ_MIN = 256 << 10;

    /** The ring is gone (its event loop shut down) before the operation completed. */
    public static final class RingClosedException extends IOException {
        RingClosedException(String message) {
            super(message);
        }
    }

    private final List<Ring> rings = new ArrayList<>();

    /** Whether io_uring can be used here (kernel support, Netty's native library). */
    public static boolean isAvailable() {
        return io.netty.channel.uring.IoUring.isAvailable();
    }

    /**
     * Registers one handle on every loop of {@code group}, which must be io_uring loops
     * ({@code IoUringIoHandler}); waits for the registrations.
     */
    public IoUringQueue(EventLoopGroup group) throws IOException {
        try {
            for (EventExecutor e : group) {
                if (!(e instanceof IoEventLoop loop) || !loop.isIoType(IoUringIoHandler.class)) {
                    throw new IOException("the event loops are not io_uring loops");
                }
                Ring r = new Ring(loop);
                r.registration = loop.register(r).get(30, TimeUnit.SECONDS);
                rings.add(r);
            }
            if (rings.isEmpty()) {
                throw new IOException("no event loop to submit file I/O on");
            }
        } catch (IOException e) {
            close();
            throw e;
        } catch (Exception e) {
            close();
            throw new IOException("cannot register with the io_uring event loops: " + e, e);
        }
    }

    /** True when the calling thread is one of the loops: a submission then needs no thread hand-off. */
    public boolean inRingThread() {
        return current() != null;
    }

    private Ring current() {
        for (Ring r : rings) {
            if (r.loop.inEventLoop()) {
                return r;
            }
        }
        return null;
    }

    /**
     * Submits one SQE; the future completes with {@code cqe->res}. {@code keepAlive} is referenced until then
     * (the buffer or path the kernel reads or writes).
     */
    public CompletableFuture<Integer> submit(byte opcode, int fd, long offset, long address, int length, int flags,
                                             Object keepAlive) {
        return submit(opcode, (byte) 0, fd, offset, address, length, flags, keepAlive);
    }

    private CompletableFuture<Integer> submit(byte opcode, byte sqeFlags, int fd, long offset, long address,
                                              int length, int flags, Object keepAlive) {
        Op op = new Op(opcode, sqeFlags, fd, offset, address, length, flags, keepAlive);
        Ring r = current();
        if (r != null) {
            r.submit(op);
        } else {
            Ring first = rings.get(0);
            first.loop.execute(() -> first.submit(op));
        }
        return op.done;
    }

    /**
     * pread of {@code dst}'s remaining bytes (a direct buffer) into its position; dst is not moved. Large reads
     * are issued one by one from the kernel's workers ({@link #ASYNC_READ_MIN}).
     */
    public CompletableFuture<Integer> read(int fd, ByteBuffer dst, long offset) {
        int length = dst.remaining();
        return submit(IORING_OP_READ, readSqeFlags(length), fd, offset, Buffer.memoryAddress(dst) + dst.position(),
                length, 0, dst);
    }

    /** The SQE flags of a read of {@code length} bytes. */
    static byte readSqeFlags(int length) {
        return length >= ASYNC_READ_MIN ? IOSQE_ASYNC : 0;
    }

    /** pwrite of {@code src}'s remaining bytes (a direct buffer); {@code dsync}: durable on completion. */
    public CompletableFuture<Integer> write(int fd, ByteBuffer src, long offset, boolean dsync) {
        return submit(IORING_OP_WRITE, fd, offset, Buffer.memoryAddress(src) + src.position(), src.remaining(),
                dsync ? RWF_DSYNC : 0, src);
    }

    /** fdatasync(fd). */
    public CompletableFuture<Integer> fdatasync(int fd) {
        return submit(IORING_OP_FSYNC, fd, 0, 0, 0, IORING_FSYNC_DATASYNC, null);
    }

    /** fallocate(2): the SQE carries the length in {@code addr} and the mode in {@code len}. */
    public CompletableFuture<Integer> fallocate(int fd, int mode, long offset, long length) {
        return submit(IORING_OP_FALLOCATE, fd, offset, length, mode, 0, null);
    }

    /** openat(AT_FDCWD, path, flags): completes with the new descriptor or {@code -errno}. */
    public CompletableFuture<Integer> openat(Path path, int flags) {
        byte[] p = path.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer name = ByteBuffer.allocateDirect(p.length + 1);
        name.put(p).put((byte) 0).flip();
        return submit(IORING_OP_OPENAT, AT_FDCWD, 0, Buffer.memoryAddress(name), 0, flags, name);
    }

    /** Deregisters from every loop; operations still pending fail with {@link RingClosedException}. */
    @Override
    public void close() {
        for (Ring r : rings) {
            if (r.registration != null) {
                r.loop.execute(r.registration::cancel);
            }
        }
    }

    /** One request in flight on a ring. */
    private static final class Op {
        final byte opcode;
        final byte sqeFlags;
        final int fd;
        final long offset;
        final long address;
        final int length;
        final int flags;
        final Object keepAlive;
        final CompletableFuture<Integer> done = new CompletableFuture<>();

        Op(byte opcode, byte sqeFlags, int fd, long offset, long address, int length, int flags, Object keepAlive) {
            this.opcode = opcode;
            this.sqeFlags = sqeFlags;
            this.fd = fd;
            this.offset = offset;
            this.address = address;
            this.length = length;
            this.flags = flags;
            this.keepAlive = keepAlive;
        }
    }

    /**
     * Our handle on one event loop's io_uring: a slot table indexed by the SQE's 16-bit user data; more
     * operations than slots wait in FIFO order for a free one. Used only on its loop's thread.
     */
    private static final class Ring implements IoUringIoHandle {
        private static final int SLOTS = 1 << 15;
        final IoEventLoop loop;
        IoRegistration registration;
        private final Op[] slots = new Op[SLOTS];
        /** Free slot numbers, a stack: {@code free[0..freeCount)}. */
        private final short[] free = new short[SLOTS];
        private int freeCount;
        private final ArrayDeque<Op> waiting = new ArrayDeque<>();

        Ring(IoEventLoop loop) {
            this.loop = loop;
            for (int i = SLOTS - 1; i >= 0; i--) {
                free[freeCount++] = (short) i;
            }
        }

        void submit(Op op) {
            if (freeCount == 0) {
                waiting.add(op);
                return;
            }
            short slot = free[--freeCount];
            slots[slot] = op;
            String refused;
            try {
                // A cancelled registration (close()) does not throw: it returns 0, which is never real user data.
                long udata = registration.submit(new IoUringIoOps(op.opcode, op.sqeFlags, (short) 0, op.fd, op.offset,
                        op.address, op.length, op.flags, slot, (short) 0, (short) 0, 0, 0L));
                if (udata != 0) {
                    return;
                }
                refused = "io_uring queue closed";
            } catch (RuntimeException e) {
                refused = "io_uring closed: " + e;
            }
            // The ring is gone: fail the request instead of losing it.
            slots[slot] = null;
            free[freeCount++] = slot;
            op.done.completeExceptionally(new RingClosedException(refused));
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
            free[freeCount++] = (short) slot;
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
                    op.done.completeExceptionally(new RingClosedException("io_uring closed"));
                }
            }
            for (Op op; (op = waiting.poll()) != null; ) {
                op.done.completeExceptionally(new RingClosedException("io_uring closed"));
            }
        }
    }
}
