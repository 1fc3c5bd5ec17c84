package io.clustermd.md.io;

import com.sun.nio.file.ExtendedOpenOption;
import io.clustermd.md.io.MemberIoException.Reason;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A member that is a regular file or a block device: md's {@code md_rdev} with its {@code block_device}, bios
 * replaced by positional {@link FileChannel} calls run on an injected {@link Executor} (the I/O threads; the
 * caller sizes it, as md's submitter threads are whoever calls {@code submit_bio}).
 *
 * <p><b>O_DIRECT</b> by default ({@code ExtendedOpenOption.DIRECT}): data moves between the caller's buffer and
 * the disk without the page cache, so nothing this process wrote can reach a shared disk later than the write's
 * completion said (a crashed daemon leaves no dirty pages behind). Requests whose offset or length is not a
 * multiple of {@link #alignment()} are bounced through an aligned buffer, writes as read-modify-write of the
 * partial edge blocks under a per-block lock, and counted in {@link MemberIoStats#misalignedRequests()}; aligned
 * requests in unaligned or heap buffers are copied once ({@link MemberIoStats#bufferBounces()}). The buffered
 * mode ({@link Options#direct()} false) is for single-node experiments only.
 *
 * <p><b>FUA</b> writes go through a second descriptor opened with O_DSYNC, which the kernel turns into a FUA
 * write (or a write plus a range sync), cheaper than a whole-file fdatasync. {@link #flush()} is fdatasync.
 * <b>Discard</b> and <b>write-zeroes</b> use fallocate ({@code PUNCH_HOLE|KEEP_SIZE}, {@code ZERO_RANGE}) through
 * jnr-ffi on the aligned interior of the range; the kernel implements both for files and for block devices
 * (discard with guaranteed zeroes, or zero-out). Partial edge blocks, and everything when fallocate is missing
 * or refused with EOPNOTSUPP, are written as zeroes ({@link MemberIoStats#zeroFillFallbacks()}). Both therefore
 * always read back as zeroes, which keeps mirrors identical for md's {@code check}.
 *
 * <p>The size is fixed at open; requests outside it fail with {@link Reason#OUT_OF_RANGE} without touching the
 * device. A read that comes back short (the file was truncated while open) fails the same way. If an I/O thread
 * is interrupted, the JDK closes the channel; the device then reopens it from its descriptor and retries, so an
 * interrupt never takes a member offline.
 *
 * <p><b>Submission queue.</b> Opened with a {@link DirectIoQueue} (the daemon's io_uring on the NBD event loops),
 * aligned reads, writes and flushes issued from a thread the queue serves go through it on a third, O_DIRECT
 * descriptor of the same inode, and complete on that thread: no I/O thread is involved. Everything else
 * (misaligned requests, discards, write-zeroes, callers on other threads) runs on the executor as before, and so
 * does an operation whose queue went away before completing it.
 */
public final class FileMemberDevice implements MemberDevice {

    /**
     * How to open a member.
     *
     * @param direct          O_DIRECT (the default); false = through the page cache, for experiments only
     * @param readOnly        open for reading only; writes, discards and write-zeroes fail with READ_ONLY
     * @param nativeFallocate use fallocate through jnr-ffi for discard and write-zeroes when it loads (default);
     *                        false = always write zero blocks
     * @param exclusive       claim the member while it is open, as md claims its disks (bd_claim): a block
     *                        device is opened O_EXCL, and an exclusive flock(2) is held, so a second daemon, a
     *                        create or a mount on the same member on this machine is refused (default for
     *                        read-write opens; needs the native binding)
     */
    public record Options(boolean direct, boolean readOnly, boolean nativeFallocate, boolean exclusive,
                          boolean shared) {
        /** O_DIRECT, read-write, native fallocate, claimed. */
        public static final Options DEFAULT = new Options(true, false, true, true, false);

        /** Without {@code shared}: the claim, if any, is exclusive. */
        public Options(boolean direct, boolean readOnly, boolean nativeFallocate, boolean exclusive) {
            this(direct, readOnly, nativeFallocate, exclusive, false);
        }

        public Options withDirect(boolean d) {
            return new Options(d, readOnly, nativeFallocate, exclusive, shared);
        }

        public Options withReadOnly(boolean ro) {
            return new Options(direct, ro, nativeFallocate, exclusive, shared);
        }

        public Options withNativeFallocate(boolean n) {
            return new Options(direct, readOnly, n, exclusive, shared);
        }

        public Options withExclusive(boolean x) {
            return new Options(direct, readOnly, nativeFallocate, x, shared);
        }

        /**
         * The claim is shared (flock LOCK_SH, no O_EXCL): the daemons of one clustered array share their
         * members, and a single-node daemon (which claims exclusively) is kept out while they run, and they
         * while it runs.
         */
        public Options withShared(boolean sh) {
            return new Options(direct, readOnly, nativeFallocate, exclusive, sh);
        }
    }

    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFREG = 0100000;
    /** Zero blocks written per call by the zero-fill fallback. */
    private static final int ZERO_CHUNK = 1 << 20;
    /** Edge blocks of discard and write-zeroes are zeroed by writes at this granularity (fallocate on a block
     * device wants 512-byte multiples; 4096 also keeps file-system partial-block zeroing out of the page cache). */
    private static final int EDGE_UNIT = 4096;
    /** Lock stripes serialising read-modify-write of the same partial block by concurrent misaligned writes. */
    private static final int STRIPES = 64;
    /** Shared source of zeroes: never written, only duplicated. */
    private static final ByteBuffer ZEROES = AlignedBuffers.allocate(ZERO_CHUNK, AlignedBuffers.MIN_ALIGNMENT);

    private record Channels(FileChannel data, FileChannel sync) {
    }

    /** One unit of work on the I/O thread. */
    private interface IoTask {
        void run() throws IOException;
    }

    private final String name;
    private final Path path;
    private final Options options;
    private final Executor executor;
    private final boolean blockDevice;
    private final int alignment;
    private final long size;
    /** Descriptor from libc open, used by fallocate and to reopen channels; -1 without jnr. */
    private final int nativeFd;
    private final Path channelPath;
    private final Object identity;
    /** Null: every operation runs on the executor. */
    private final DirectIoQueue queue;
    /** O_DIRECT descriptor for the queue's operations; -1 without a queue. */
    private final int queueFd;
    private final AlignedBufferPool bouncePool;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];

    private final Object reopenLock = new Object();
    private volatile Channels channels;

    private final ReentrantLock gate = new ReentrantLock();
    private final Condition drained = gate.newCondition();
    /** Completions of this device running on the current thread (close() from a callback must not wait on them). */
    private final ThreadLocal<int[]> completing = ThreadLocal.withInitial(() -> new int[1]);
    private boolean closed;
    private int inFlight;

    private volatile boolean punchUnsupported;
    private volatile boolean zeroRangeUnsupported;

    private final LongAdder reads = new LongAdder();
    private final LongAdder writes = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder flushes = new LongAdder();
    private final LongAdder discards = new LongAdder();
    private final LongAdder writeZeroes = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder misaligned = new LongAdder();
    private final LongAdder bounces = new LongAdder();
    private final LongAdder zeroFills = new LongAdder();
    private final LongAdder reopens = new LongAdder();

    private FileMemberDevice(String name, Path path, Options options, Executor executor, boolean blockDevice,
                             int alignment, long size, int nativeFd, Path channelPath, Object identity,
                             Channels channels, DirectIoQueue queue, int queueFd) {
        this.name = name;
        this.path = path;
        this.options = options;
        this.executor = executor;
        this.blockDevice = blockDevice;
        this.alignment = alignment;
        this.size = size;
        this.nativeFd = nativeFd;
        this.channelPath = channelPath;
        this.identity = identity;
        this.channels = channels;
        this.queue = queue;
        this.queueFd = queueFd;
        this.bouncePool = new AlignedBufferPool(Math.max(alignment, AlignedBuffers.MIN_ALIGNMENT), 1 << 20, 8);
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /**
     * Opens a regular file or block device. Checks only what this class needs (type, O_DIRECT-compatible size);
     * {@link MemberDevices#open} adds the operator-facing checks. Operations run on {@code executor}.
     *
     * @throws IOException naming the path and the reason when it cannot be opened
     */
    public static FileMemberDevice open(Path path, Options options, Executor executor) throws IOException {
        return open(path, options, executor, null);
    }

    /**
     * Opens a regular file or block device whose aligned O_DIRECT transfers from threads that {@code queue}
     * serves go through {@code queue} (null: none). The queue is used only in O_DIRECT mode with the native
     * binding loaded; otherwise it is ignored, and everything runs on {@code executor}.
     *
     * @throws IOException naming the path and the reason when it cannot be opened
     */
    public static FileMemberDevice open(Path path, Options options, Executor executor, DirectIoQueue queue)
            throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(executor, "executor");
        String name = path.toString();
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode");
        } catch (NoSuchFileException e) {
            throw new IOException(name + ": no such file or device", e);
        }
        boolean blk = (mode & S_IFMT) == S_IFBLK;
        if (!blk && (mode & S_IFMT) != S_IFREG) {
            throw new IOException(name + ": not a regular file or block device");
        }
        int fd = -1;
        Path channelPath = path;
        boolean claim = options.exclusive() && !options.readOnly() && NativeFileOps.available();
        if (claim || options.nativeFallocate() && NativeFileOps.available()) {
            fd = claim ? NativeFileOps.openClaimed(name, false, blk, options.shared())
                    : NativeFileOps.open(name, options.readOnly());
            if (fd == -NativeFileOps.EWOULDBLOCK || fd == -NativeFileOps.EBUSY) {
                throw new IOException(options.shared() ? name + ": in use by a single-node daemon or another"
                        + " program that claimed it alone; stop that first ('clusterctl stop')"
                        : inUseMessage(name, blk));
            }
            if (fd < 0) {
                throw new IOException(name + ": cannot open: " + NativeFileOps.strerror(-fd));
            }
            // Reopening the descriptor through /proc gives the Java channels the very inode libc opened, so
            // fallocate and the data path can never act on two different files if the path is replaced.
            channelPath = Path.of("/proc/self/fd/" + fd);
        }
        Channels ch = null;
        int queueFd = -1;
        try {
            ch = openChannels(name, channelPath, options);
            if (queue != null && options.direct() && fd >= 0) {
                queueFd = NativeFileOps.openDirect(channelPath.toString(), options.readOnly());
                if (queueFd < 0) {
                    throw new IOException(name + ": cannot open with O_DIRECT: " + NativeFileOps.strerror(-queueFd));
                }
            }
            long size = ch.data().size();
            if (blk && size == 0) {
                // A JDK whose FileChannel.size() knows no BLKGETSIZE64 reports 0 for block devices; sysfs knows.
                size = MemberDevices.blockDeviceSize(path);
            }
            int alignment = 1;
            if (options.direct()) {
                long fsBlock = Files.getFileStore(path).getBlockSize();
                alignment = (int) Math.max(AlignedBuffers.MIN_ALIGNMENT, fsBlock);
                if (Integer.bitCount(alignment) != 1 || alignment > (1 << 16)) {
                    throw new IOException(name + ": block size " + fsBlock + " is not usable for O_DIRECT;"
                            + " open the member buffered");
                }
                if (size % alignment != 0) {
                    throw new IOException(name + ": size " + size + " is not a multiple of " + alignment
                            + " bytes, which O_DIRECT needs; resize it (e.g. truncate -s " + (size / alignment + 1)
                            * alignment + ") or open it buffered");
                }
            }
            Object identity = identityOf(channelPath, blk);
            return new FileMemberDevice(name, path, options, executor, blk, alignment, size, fd, channelPath,
                    identity, ch, queueFd >= 0 ? queue : null, queueFd);
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                closeQuietly(ch);
            }
            if (queueFd >= 0) {
                NativeFileOps.close(queueFd);
            }
            if (fd >= 0) {
                NativeFileOps.close(fd);
            }
            throw e;
        }
    }

    static String inUseMessage(String name, boolean blockDevice) {
        return name + ": in use: another process has claimed it" + (blockDevice
                ? " (it is mounted, part of a kernel md array, or served by another clustermd daemon)"
                : " (another clustermd daemon is serving it?)")
                + "; stop that first ('clusterctl stop', umount or mdadm --stop)";
    }

    private static Channels openChannels(String name, Path p, Options options) throws IOException {
        List<OpenOption> base = new ArrayList<>();
        base.add(StandardOpenOption.READ);
        if (!options.readOnly()) {
            base.add(StandardOpenOption.WRITE);
        }
        if (options.direct()) {
            base.add(ExtendedOpenOption.DIRECT);
        }
        FileChannel data;
        try {
            data = FileChannel.open(p, base.toArray(OpenOption[]::new));
        } catch (IOException | UnsupportedOperationException e) {
            throw new IOException(name + ": cannot open" + (options.direct() ? " with O_DIRECT" : "") + ": "
                    + detail(e) + (options.direct() ? " (a file system without O_DIRECT needs buffered mode)" : ""),
                    e);
        }
        if (options.readOnly()) {
            return new Channels(data, data);
        }
        base.add(StandardOpenOption.DSYNC);
        try {
            return new Channels(data, FileChannel.open(p, base.toArray(OpenOption[]::new)));
        } catch (IOException | RuntimeException e) {
            data.close();
            throw new IOException(name + ": cannot open with O_DSYNC: " + detail(e), e);
        }
    }

    private static Object identityOf(Path p, boolean blk) throws IOException {
        if (blk) {
            return "rdev:" + Files.getAttribute(p, "unix:rdev");
        }
        Object key = Files.readAttributes(p, BasicFileAttributes.class).fileKey();
        return key != null ? key : p.toRealPath();
    }

    // ---- MemberDevice ----

    @Override
    public String name() {
        return name;
    }

    @Override
    public long sizeBytes() {
        return size;
    }

    @Override
    public int alignment() {
        return alignment;
    }

    @Override
    public ByteBuffer allocate(int bytes) {
        return AlignedBuffers.allocate(bytes, alignment);
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        int len = dst.remaining();
        CompletableFuture<Void> bad = checkRange(MemberOp.READ, offset, len);
        if (bad != null) {
            return bad;
        }
        ByteBuffer buf = dst.duplicate();
        if (queueable(buf, offset, len)) {
            return submitQueued(MemberOp.READ, buf, offset, false);
        }
        return submit(MemberOp.READ, offset, len, readTask(buf, offset, len));
    }

    private IoTask readTask(ByteBuffer buf, long offset, int len) {
        return () -> {
            // A fresh duplicate per attempt: a retry after an interrupt starts again from the caller's position.
            doRead(buf.duplicate(), offset, len);
            reads.increment();
            bytesRead.add(len);
        };
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        int len = src.remaining();
        CompletableFuture<Void> bad = checkWritable(MemberOp.WRITE, offset, len);
        if (bad != null) {
            return bad;
        }
        ByteBuffer buf = src.duplicate();
        if (queueable(buf, offset, len)) {
            return submitQueued(MemberOp.WRITE, buf, offset, fua);
        }
        return submit(MemberOp.WRITE, offset, len, writeTask(buf, offset, len, fua));
    }

    private IoTask writeTask(ByteBuffer buf, long offset, int len, boolean fua) {
        return () -> {
            doWrite(buf.duplicate(), offset, len, fua);
            writes.increment();
            bytesWritten.add(len);
        };
    }

    @Override
    public CompletableFuture<Void> flush() {
        if (queue != null && queue.servesCurrentThread()) {
            return submitQueued(MemberOp.FLUSH, null, 0, false);
        }
        return submit(MemberOp.FLUSH, 0, 0, this::flushBlocking);
    }

    private void flushBlocking() throws IOException {
        channels.data().force(false);
        flushes.increment();
    }

    @Override
    public CompletableFuture<Void> discard(long offset, long length) {
        CompletableFuture<Void> bad = checkWritable(MemberOp.DISCARD, offset, length);
        if (bad != null) {
            return bad;
        }
        return submit(MemberOp.DISCARD, offset, length, () -> {
            zeroRange(MemberOp.DISCARD, offset, length);
            discards.increment();
        });
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length) {
        CompletableFuture<Void> bad = checkWritable(MemberOp.WRITE_ZEROES, offset, length);
        if (bad != null) {
            return bad;
        }
        return submit(MemberOp.WRITE_ZEROES, offset, length, () -> {
            zeroRange(MemberOp.WRITE_ZEROES, offset, length);
            writeZeroes.increment();
        });
    }

    @Override
    public MemberIoStats stats() {
        return new MemberIoStats(reads.sum(), writes.sum(), bytesRead.sum(), bytesWritten.sum(), flushes.sum(),
                discards.sum(), writeZeroes.sum(), errors.sum(), misaligned.sum(), bounces.sum(), zeroFills.sum());
    }

    @Override
    public void close() {
        gate.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            int own = completing.get()[0];
            while (inFlight > own) {
                drained.awaitUninterruptibly();
            }
        } finally {
            gate.unlock();
        }
        synchronized (reopenLock) {
            closeQuietly(channels);
        }
        if (nativeFd >= 0) {
            NativeFileOps.close(nativeFd);
        }
        if (queueFd >= 0) {
            NativeFileOps.close(queueFd);
        }
    }

    // ---- extras beyond the ops table ----

    public boolean isBlockDevice() {
        return blockDevice;
    }

    public boolean isDirect() {
        return options.direct();
    }

    public boolean isReadOnly() {
        return options.readOnly();
    }

    /** True if discard and write-zeroes can use fallocate (jnr-ffi loaded and not disabled). */
    public boolean hasNativeFallocate() {
        return nativeFd >= 0 && options.nativeFallocate();
    }

    /** How often the channels were reopened after an interrupt closed them. */
    public long channelReopens() {
        return reopens.sum();
    }

    /**
     * True while the path still names the device that was opened. An unlinked file keeps working through the
     * open descriptor (as a removed device node does for the kernel), so a caller that wants to notice a deleted
     * or replaced member polls this.
     */
    public boolean pathStillRefersToDevice() {
        try {
            return identity.equals(identityOf(path, blockDevice));
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public String toString() {
        return "FileMemberDevice[" + name + ", " + size + " bytes, " + (options.direct() ? "O_DIRECT" : "buffered")
                + (options.readOnly() ? ", read-only" : "") + "]";
    }

    // ---- submission ----

    private CompletableFuture<Void> submit(MemberOp op, long offset, long length, IoTask task) {
        if (!enter()) {
            errors.increment();
            return CompletableFuture.failedFuture(new MemberIoException(name, op, offset, length, Reason.CLOSED,
                    "the device is closed", null));
        }
        CompletableFuture<Void> future = new CompletableFuture<>();
        dispatch(future, op, offset, length, task);
        return future;
    }

    /** Runs an accepted operation (inside the gate) on the executor and finishes it there. */
    private void dispatch(CompletableFuture<Void> future, MemberOp op, long offset, long length, IoTask task) {
        Runnable run = () -> {
            MemberIoException failure = null;
            try {
                runReopening(task);
            } catch (Throwable t) {
                failure = toMemberIoException(op, offset, length, t);
                errors.increment();
            }
            finish(future, failure);
        };
        try {
            executor.execute(run);
        } catch (RejectedExecutionException e) {
            errors.increment();
            finish(future, new MemberIoException(name, op, offset, length, Reason.CLOSED,
                    "the I/O executor refused the operation (shut down?)", e));
        }
    }

    /**
     * Completes an accepted operation, then leaves the gate: close() returns only after every accepted
     * operation's future is done; the marker lets a completion callback on this thread call close() without
     * waiting for itself.
     */
    private void finish(CompletableFuture<Void> future, MemberIoException failure) {
        int[] depth = completing.get();
        depth[0]++;
        try {
            if (failure == null) {
                future.complete(null);
            } else {
                future.completeExceptionally(failure);
            }
        } finally {
            depth[0]--;
            exit();
        }
    }

    // ---- submission through the queue ----

    /** Whether a transfer can go through the queue: aligned range and memory, and a thread the queue serves. */
    private boolean queueable(ByteBuffer buf, long offset, int len) {
        return queue != null && len > 0 && !misaligned(offset, len) && AlignedBuffers.isAligned(buf, alignment)
                && queue.servesCurrentThread();
    }

    /**
     * Submits a read, write ({@code buf} is the caller's bytes, a private duplicate) or flush ({@code buf} null)
     * to the queue. Short transfers are resubmitted for the rest, EINTR/EAGAIN retried; if the queue itself goes
     * away, the operation is run again on the executor (reads, writes and flushes are idempotent).
     */
    private CompletableFuture<Void> submitQueued(MemberOp op, ByteBuffer buf, long offset, boolean fua) {
        int len = buf == null ? 0 : buf.remaining();
        if (!enter()) {
            errors.increment();
            return CompletableFuture.failedFuture(new MemberIoException(name, op, offset, len, Reason.CLOSED,
                    "the device is closed", null));
        }
        CompletableFuture<Void> future = new CompletableFuture<>();
        queuedStep(future, op, buf, offset, len, fua, buf == null ? 0 : buf.position());
        return future;
    }

    private void queuedStep(CompletableFuture<Void> future, MemberOp op, ByteBuffer buf, long offset, int len,
                            boolean fua, int start) {
        long at = offset + (buf == null ? 0 : buf.position() - start);
        CompletableFuture<Integer> r = switch (op) {
            case READ -> queue.read(queueFd, buf, at);
            case WRITE -> queue.write(queueFd, buf, at, fua);
            default -> queue.fdatasync(queueFd);
        };
        r.whenComplete((res, ex) -> {
            if (ex != null) {
                rewind(buf, start);
                runOnExecutorInstead(future, op, buf, offset, len, fua);
                return;
            }
            int rc = res;
            if (rc == -NativeFileOps.EINTR || rc == -NativeFileOps.EAGAIN) {
                queuedStep(future, op, buf, offset, len, fua, start);
                return;
            }
            if (rc > 0 && buf != null && rc < buf.remaining()) {
                buf.position(buf.position() + rc);
                queuedStep(future, op, buf, offset, len, fua, start);
                return;
            }
            MemberIoException failure = null;
            if (rc < 0) {
                failure = errnoFailure(op, offset, len, -rc);
            } else if (rc == 0 && buf != null) {
                failure = new MemberIoException(name, op, offset, len, op == MemberOp.READ ? Reason.OUT_OF_RANGE
                        : Reason.IO_ERROR, "short " + op.name().toLowerCase() + ": the device ended at " + at
                        + " (opened at " + size + " bytes; truncated or shrunk while open?)", null);
            } else if (op == MemberOp.READ) {
                reads.increment();
                bytesRead.add(len);
            } else if (op == MemberOp.WRITE) {
                writes.increment();
                bytesWritten.add(len);
            } else {
                flushes.increment();
            }
            if (failure != null) {
                errors.increment();
            }
            finish(future, failure);
        });
    }

    /** Rewinds a private duplicate to where the operation started. */
    private static void rewind(ByteBuffer b, int start) {
        if (b != null) {
            b.position(start);
        }
    }

    /** The queue failed (not the device): the accepted operation runs on the executor, still inside the gate. */
    private void runOnExecutorInstead(CompletableFuture<Void> future, MemberOp op, ByteBuffer buf, long offset,
                                      int len, boolean fua) {
        IoTask task = switch (op) {
            case READ -> readTask(buf, offset, len);
            case WRITE -> writeTask(buf, offset, len, fua);
            default -> this::flushBlocking;
        };
        dispatch(future, op, offset, len, task);
    }

    private MemberIoException errnoFailure(MemberOp op, long offset, long len, int errno) {
        Reason reason = switch (errno) {
            case 28, 122 -> Reason.NO_SPACE;   // ENOSPC, EDQUOT
            case 1, 13, 30 -> Reason.READ_ONLY; // EPERM, EACCES, EROFS
            default -> Reason.IO_ERROR;
        };
        return new MemberIoException(name, op, offset, len, reason, NativeFileOps.strerror(errno), null);
    }

    private void runReopening(IoTask task) throws IOException {
        try {
            task.run();
        } catch (ClosedChannelException e) {
            if (isClosed()) {
                throw e;
            }
            // An interrupt of this I/O thread made the JDK close the channel for everyone: reopen and retry
            // once, with the interrupt status cleared for the retry and restored afterwards.
            boolean interrupted = Thread.interrupted();
            try {
                reopenIfNeeded();
                task.run();
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private void reopenIfNeeded() throws IOException {
        synchronized (reopenLock) {
            Channels c = channels;
            if (c.data().isOpen() && c.sync().isOpen()) {
                return;
            }
            if (isClosed()) {
                throw new ClosedChannelException();
            }
            closeQuietly(c);
            channels = openChannels(name, channelPath, options);
            reopens.increment();
        }
    }

    private boolean enter() {
        gate.lock();
        try {
            if (closed) {
                return false;
            }
            inFlight++;
            return true;
        } finally {
            gate.unlock();
        }
    }

    private void exit() {
        gate.lock();
        try {
            if (--inFlight == 0) {
                drained.signalAll();
            }
        } finally {
            gate.unlock();
        }
    }

    private boolean isClosed() {
        gate.lock();
        try {
            return closed;
        } finally {
            gate.unlock();
        }
    }

    private MemberIoException toMemberIoException(MemberOp op, long offset, long length, Throwable t) {
        if (t instanceof MemberIoException m) {
            return m;
        }
        if (t instanceof ClosedChannelException && isClosed()) {
            return new MemberIoException(name, op, offset, length, Reason.CLOSED, "the device is closed", t);
        }
        return new MemberIoException(name, op, offset, length, MemberIoException.classify(t), detail(t), t);
    }

    private CompletableFuture<Void> checkRange(MemberOp op, long offset, long length) {
        if (offset < 0 || length < 0) {
            return failed(op, offset, length, Reason.INVALID, "negative offset or length");
        }
        if (offset > size || length > size - offset) {
            return failed(op, offset, length, Reason.OUT_OF_RANGE,
                    "beyond the end of the device (size " + size + " bytes)");
        }
        return null;
    }

    private CompletableFuture<Void> checkWritable(MemberOp op, long offset, long length) {
        if (options.readOnly()) {
            return failed(op, offset, length, Reason.READ_ONLY, "the device is open read-only");
        }
        return checkRange(op, offset, length);
    }

    private CompletableFuture<Void> failed(MemberOp op, long offset, long length, Reason reason, String detail) {
        errors.increment();
        return CompletableFuture.failedFuture(new MemberIoException(name, op, offset, length, reason, detail, null));
    }

    // ---- the data path (runs on the I/O threads) ----

    private boolean misaligned(long offset, long len) {
        return ((offset | len) & (alignment - 1)) != 0;
    }

    private void doRead(ByteBuffer buf, long offset, int len) throws IOException {
        if (misaligned(offset, len)) {
            // O_DIRECT cannot read part of a block: read the enclosing blocks and copy the requested bytes out.
            misaligned.increment();
            long start = AlignedBuffers.roundDown(offset, alignment);
            int env = Math.toIntExact(AlignedBuffers.roundUp(offset + len, alignment) - start);
            ByteBuffer bb = bouncePool.acquire(env);
            try {
                readFully(bb, start, MemberOp.READ, offset, len);
                bb.position((int) (offset - start)).limit((int) (offset - start) + len);
                buf.put(bb);
            } finally {
                bouncePool.release(bb);
            }
        } else if (alignment > 1 && !AlignedBuffers.isAligned(buf, alignment)) {
            bounces.increment();
            ByteBuffer bb = bouncePool.acquire(len);
            try {
                readFully(bb, offset, MemberOp.READ, offset, len);
                buf.put(bb.flip());
            } finally {
                bouncePool.release(bb);
            }
        } else {
            readFully(buf, offset, MemberOp.READ, offset, len);
        }
    }

    /** Fills {@code b} from {@code pos}; a short read fails the request ({@code op} at {@code reqOffset}). */
    private void readFully(ByteBuffer b, long pos, MemberOp op, long reqOffset, int reqLen) throws IOException {
        int want = b.remaining();
        long at = pos;
        while (b.hasRemaining()) {
            int n = channels.data().read(b, at);
            if (n <= 0) {
                long now = currentSize();
                throw new MemberIoException(name, op, reqOffset, reqLen, Reason.OUT_OF_RANGE,
                        "short read: the device ended after " + (at - pos) + " of " + want + " bytes at " + pos
                                + " (it is now " + now + " bytes, opened at " + size
                                + "; truncated or shrunk while open?)", null);
            }
            at += n;
        }
    }

    private long currentSize() {
        try {
            return channels.data().size();
        } catch (IOException e) {
            return -1;
        }
    }

    private void doWrite(ByteBuffer buf, long offset, int len, boolean fua) throws IOException {
        if (misaligned(offset, len)) {
            misaligned.increment();
            readModifyWrite(buf, offset, len, fua);
        } else if (alignment > 1 && !AlignedBuffers.isAligned(buf, alignment)) {
            bounces.increment();
            ByteBuffer bb = bouncePool.acquire(len);
            try {
                bb.put(buf).flip();
                writeFully(bb, offset, fua);
            } finally {
                bouncePool.release(bb);
            }
        } else {
            writeFully(buf, offset, fua);
        }
    }

    /**
     * Writes a misaligned range with O_DIRECT: reads the partial first and last blocks, lays the caller's bytes
     * over them and writes the enclosing blocks. Two misaligned writes into the same partial block would each
     * write back the other's old bytes, so the partial blocks are locked (striped, in a fixed order).
     */
    private void readModifyWrite(ByteBuffer buf, long offset, int len, boolean fua) throws IOException {
        long start = AlignedBuffers.roundDown(offset, alignment);
        long end = AlignedBuffers.roundUp(offset + len, alignment);
        int env = Math.toIntExact(end - start);
        boolean headPartial = offset != start;
        boolean tailPartial = offset + len != end;
        long headBlock = start / alignment;
        long tailBlock = end / alignment - 1;
        int s1 = headPartial ? stripe(headBlock) : -1;
        int s2 = tailPartial ? stripe(tailBlock) : -1;
        int first = Math.min(s1 < 0 ? s2 : s1, s2 < 0 ? s1 : s2);
        int second = Math.max(s1, s2);
        ReentrantLock l1 = stripes[first];
        ReentrantLock l2 = second != first ? stripes[second] : null;
        l1.lock();
        if (l2 != null) {
            l2.lock();
        }
        ByteBuffer bb = bouncePool.acquire(env);
        try {
            if (headPartial) {
                readFully(bb.clear().limit(alignment), start, MemberOp.WRITE, offset, len);
            }
            if (tailPartial && !(headPartial && tailBlock == headBlock)) {
                bb.clear().position(env - alignment).limit(env);
                readFully(bb, end - alignment, MemberOp.WRITE, offset, len);
            }
            bb.clear().limit(env).position((int) (offset - start));
            bb.put(buf);
            bb.position(0).limit(env);
            writeFully(bb, start, fua);
        } finally {
            bouncePool.release(bb);
            if (l2 != null) {
                l2.unlock();
            }
            l1.unlock();
        }
    }

    private static int stripe(long block) {
        return (int) ((block ^ (block >>> 17)) & (STRIPES - 1));
    }

    private void writeFully(ByteBuffer b, long pos, boolean fua) throws IOException {
        FileChannel ch = fua ? channels.sync() : channels.data();
        long at = pos;
        while (b.hasRemaining()) {
            at += ch.write(b, at);
        }
    }

    /**
     * Discard and write-zeroes: zero the partial edge blocks by writing, fallocate the aligned interior (punch
     * first for discard, zero-range first for write-zeroes, the other as second choice), and write zero blocks
     * when neither mode is supported.
     */
    private void zeroRange(MemberOp op, long offset, long length) throws IOException {
        if (length == 0) {
            return;
        }
        long end = offset + length;
        long innerStart = Math.min(end, AlignedBuffers.roundUp(offset, EDGE_UNIT));
        long innerEnd = Math.max(innerStart, AlignedBuffers.roundDown(end, EDGE_UNIT));
        if (innerStart > offset) {
            writeZeroBytes(offset, innerStart - offset);
        }
        if (innerEnd < end) {
            writeZeroBytes(innerEnd, end - innerEnd);
        }
        if (innerEnd > innerStart) {
            if (!fallocateZero(op, innerStart, innerEnd - innerStart, offset, length)) {
                zeroFills.increment();
                writeZeroBytes(innerStart, innerEnd - innerStart);
            }
        }
    }

    /** True if fallocate zeroed the range; false if no usable fallocate mode exists here. */
    private boolean fallocateZero(MemberOp op, long start, long len, long reqOffset, long reqLen)
            throws MemberIoException {
        if (!hasNativeFallocate()) {
            return false;
        }
        int punch = NativeFileOps.FALLOC_FL_PUNCH_HOLE | NativeFileOps.FALLOC_FL_KEEP_SIZE;
        int zero = NativeFileOps.FALLOC_FL_ZERO_RANGE | NativeFileOps.FALLOC_FL_KEEP_SIZE;
        boolean punchFirst = op == MemberOp.DISCARD;
        for (int attempt = 0; attempt < 2; attempt++) {
            boolean usePunch = (attempt == 0) == punchFirst;
            if (usePunch ? punchUnsupported : zeroRangeUnsupported) {
                continue;
            }
            int rc = NativeFileOps.fallocate(nativeFd, usePunch ? punch : zero, start, len);
            if (rc == 0) {
                return true;
            }
            if (-rc == NativeFileOps.EOPNOTSUPP) {
                // Remembered per device: the file system or device will not grow the mode while we run.
                if (usePunch) {
                    punchUnsupported = true;
                } else {
                    zeroRangeUnsupported = true;
                }
                continue;
            }
            String text = NativeFileOps.strerror(-rc);
            throw new MemberIoException(name, op, reqOffset, reqLen,
                    MemberIoException.classify(new IOException(text)), text, null);
        }
        return false;
    }

    private void writeZeroBytes(long pos, long len) throws IOException {
        long at = pos;
        long left = len;
        while (left > 0) {
            int n = (int) Math.min(left, ZERO_CHUNK);
            doWrite(ZEROES.duplicate().limit(n), at, n, false);
            at += n;
            left -= n;
        }
    }

    private static void closeQuietly(Channels c) {
        try {
            c.data().close();
        } catch (IOException ignored) {
            // closing a descriptor we are done with: nothing useful to do with a failure
        }
        try {
            c.sync().close();
        } catch (IOException ignored) {
            // same
        }
    }

    static String detail(Throwable t) {
        String m = t.getMessage();
        return m != null ? m : t.getClass().getSimpleName();
    }
}
