package io.clustermd.nbd.file;

import io.clustermd.nbd.BackendException;
import io.clustermd.nbd.BlockBackend;
import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one regular file or block device (nbdkit's {@code file} plugin).
 *
 * <p><b>O_DIRECT by default</b> ({@code com.sun.nio.file.ExtendedOpenOption.DIRECT}): data goes
 * between the disk and block-aligned direct buffers that the server also uses for the socket, so a
 * READ is one pread and one socket write with no copy, and a WRITE is one copy (socket buffer to the
 * aligned buffer) and one pwrite. The minimum block size advertised is the file system's block size
 * (the alignment O_DIRECT demands). A request from a client that did not agree to it, or the
 * unaligned tail of a file, goes through a second, buffered descriptor of the same file (the
 * kernel keeps the page cache coherent with direct I/O on the same file). {@code direct=false}
 * serves everything through the page cache.
 *
 * <p>Blocking file I/O runs on the backend's own I/O threads, never on the caller's event loop;
 * completions happen there. FLUSH and FUA are {@code fdatasync} ({@link FileChannel#force(boolean)
 * force(false)}). WRITE_ZEROES writes zeroes (no fast zero); TRIM is not offered (the JDK has no
 * {@code fallocate}).
 */
public final class FileBackend implements BlockBackend {
    private static final Logger log = LoggerFactory.getLogger(FileBackend.class);

    /** Largest block size O_DIRECT may demand, and the alignment of every buffer we hand out. */
    static final int MAX_ALIGNMENT = AlignedBufferPool.ALIGNMENT;
    private static final int ZERO_CHUNK = 1 << 20;


    /** How to open the file. */
    public record Options(boolean readOnly, boolean direct, int ioThreads) {
        public static final Options DEFAULTS = new Options(false, true, 32);

        public Options {
            if (ioThreads < 1) {
                throw new IllegalArgumentException("ioThreads " + ioThreads + " (expected: >= 1)");
            }
        }

        public Options withReadOnly(boolean ro) { return new Options(ro, direct, ioThreads); }
        public Options withDirect(boolean d) { return new Options(readOnly, d, ioThreads); }
        public Options withIoThreads(int n) { return new Options(readOnly, direct, n); }
    }

    private final Path path;
    private final Options options;
    private final FileChannel channel;      // O_DIRECT unless options.direct is false
    private final FileChannel buffered;     // for unaligned requests (== channel when buffered)
    private final long size;
    private final int alignment;
    private final ExecutorService io;
    private final ByteBuf zeroes;
    private final UringFileIo uring;       // null: blocking I/O on the I/O threads

    private FileBackend(Path path, Options options, FileChannel channel, FileChannel buffered, long size, int alignment,
                        UringFileIo uring) {
        this.path = path;
        this.uring = uring;
        this.options = options;
        this.channel = channel;
        this.buffered = buffered;
        this.size = size;
        this.alignment = alignment;
        this.io = Executors.newFixedThreadPool(options.ioThreads(), new DefaultThreadFactory("nbd-file-io", true));
        ByteBuf z = AlignedBufferPool.SHARED.allocate(ZERO_CHUNK);
        z.writeZero(ZERO_CHUNK);
        this.zeroes = z;
    }

    /**
     * Opens {@code path}. Refuses, with a message that says what to do, a missing file, a directory,
     * an empty file, and O_DIRECT on a file system that has no O_DIRECT.
     */
    public static FileBackend open(Path path, Options options) throws IOException {
        return open(path, options, null);
    }

    /**
     * Opens {@code path}; with {@code ioUringLoops} (the server's io_uring event loops) reads, writes,
     * flushes, zeroes and trims are submitted to the io_uring of the event loop serving the request
     * and complete on it, with no thread hand-off; requests from other threads go to the first loop.
     * The I/O threads then serve only unaligned requests.
     */
    public static FileBackend open(Path path, Options options, io.netty.channel.EventLoopGroup ioUringLoops)
            throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null,
                    "no such file; create it first, e.g. 'truncate -s 1G " + path + "'");
        }
        if (Files.isDirectory(path)) {
            throw new IOException(path + " is a directory; give a regular file or a block device");
        }
        boolean blockDevice = !Files.isRegularFile(path);
        List<OpenOption> opts = new ArrayList<>(List.of(StandardOpenOption.READ));
        if (!options.readOnly()) {
            opts.add(StandardOpenOption.WRITE);
        }
        FileChannel buffered;
        try {
            buffered = FileChannel.open(path, opts.toArray(OpenOption[]::new));
        } catch (java.nio.file.AccessDeniedException e) {
            throw new IOException("cannot open " + path + (options.readOnly() ? " for reading" : " for writing")
                    + ": permission denied" + (options.readOnly() ? "" : " (serve it read-only with --read-only?)"), e);
        }
        FileChannel direct = buffered;
        int alignment = 1;
        try {
            long size = blockDevice ? blockDeviceSize(path, buffered) : buffered.size();
            if (size == 0) {
                throw new IOException(path + " is empty (0 bytes): nothing to export; grow it first, e.g. 'truncate -s 1G " + path + "'");
            }
            if (options.direct()) {
                List<OpenOption> d = new ArrayList<>(opts);
                d.add(com.sun.nio.file.ExtendedOpenOption.DIRECT);
                try {
                    direct = FileChannel.open(path, d.toArray(OpenOption[]::new));
                } catch (IOException | UnsupportedOperationException e) {
                    throw new IOException("cannot open " + path + " with O_DIRECT (" + e.getMessage()
                            + "); the file system may not support it (tmpfs does not): use --buffered", e);
                }
                alignment = (int) Math.max(512, Files.getFileStore(path).getBlockSize());
                if (alignment > MAX_ALIGNMENT || Integer.bitCount(alignment) != 1) {
                    direct.close();
                    throw new IOException(path + ": file system block size " + alignment
                            + " is not supported for O_DIRECT (max " + MAX_ALIGNMENT + "); use --buffered");
                }
            }
            UringFileIo uring = ioUringLoops == null ? null
                    : new UringFileIo(path, ioUringLoops, options.readOnly(), options.direct());
            FileBackend b = new FileBackend(path, options, direct, buffered, size, alignment, uring);
            log.info("opened {} ({} bytes, {}, {}, {})", path, size, options.direct() ? "O_DIRECT, alignment " + alignment : "buffered",
                    options.readOnly() ? "read-only" : "read-write", uring != null ? "io_uring" : "I/O threads");
            return b;
        } catch (IOException | RuntimeException e) {
            if (direct != buffered) {
                direct.close();
            }
            buffered.close();
            throw e;
        }
    }

    /** Size of a block device from sysfs (fstat reports 0 for block devices). */
    private static long blockDeviceSize(Path path, FileChannel ch) throws IOException {
        long s = ch.size();
        if (s > 0) {
            return s;
        }
        Object rdevAttr = Files.getAttribute(path, "unix:rdev");
        long rdev = ((Number) rdevAttr).longValue();
        long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
        long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
        Path sys = Path.of("/sys/dev/block/" + major + ":" + minor + "/size");
        try {
            return Long.parseLong(Files.readString(sys).trim()) * 512;
        } catch (IOException | NumberFormatException e) {
            throw new IOException("cannot determine the size of block device " + path + " (read " + sys + ": " + e + ")", e);
        }
    }

    public Path path() {
        return path;
    }

    public boolean isDirect() {
        return channel != buffered;
    }

    @Override public long size() { return size; }
    @Override public boolean isReadOnly() { return options.readOnly(); }
    @Override public boolean canFlush() { return true; }
    @Override public boolean canFua() { return true; }
    @Override public boolean canZero() { return true; }
    /** fallocate(ZERO_RANGE) through io_uring; without it zeroing is a write of zeroes. */
    @Override public boolean canFastZero() { return uring != null; }
    /** fallocate(PUNCH_HOLE) through io_uring. */
    @Override public boolean canTrim() { return uring != null; }
    /** One file, one page cache and one fdatasync for all connections. */
    @Override public boolean canMultiConn() { return true; }
    @Override public int minimumBlockSize() { return alignment; }
    @Override public int preferredBlockSize() { return Math.max(4096, alignment); }

    @Override
    public ByteBuf allocateBuffer(int capacity) {
        return AlignedBufferPool.SHARED.allocate(capacity);
    }

    /** One direct buffer: its memory can be handed to the kernel as it is. */
    private static boolean plain(ByteBuf b) {
        return b.isDirect() && b.nioBufferCount() == 1;
    }

    private boolean aligned(long offset, long length) {
        return ((offset | length) & (alignment - 1)) == 0;
    }

    private interface IoOp {
        void run() throws IOException;
    }

    private CompletableFuture<Void> submit(IoOp op) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        try {
            io.execute(() -> {
                try {
                    op.run();
                    f.complete(null);
                } catch (Throwable t) {
                    f.completeExceptionally(t instanceof BackendException ? t
                            : new BackendException(BackendException.errnoOf(t), path + ": " + t.getMessage(), t));
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.completeExceptionally(new BackendException(BackendException.ESHUTDOWN, path + " is closed"));
        }
        return f;
    }

    @Override
    public CompletableFuture<Void> pread(ByteBuf dst, long offset, int length, int flags) {
        if (!plain(dst)) {
            // Not one direct buffer (heap, composite): read into one of ours, then copy.
            ByteBuf tmp = allocateBuffer(length);
            return pread(tmp, offset, length, flags).whenComplete((v, ex) -> {
                if (ex == null) {
                    dst.writeBytes(tmp);
                }
                tmp.release();
            });
        }
        if (uring != null && (aligned(offset, length) && offset + length <= size || !isDirect())) {
            int at = dst.writerIndex();
            return uring.read(dst.nioBuffer(at, length), offset).thenApply(v -> {
                dst.writerIndex(at + length);
                return null;
            });
        }
        return submit(() -> {
            int at = dst.writerIndex();
            ByteBuffer bb = dst.nioBuffer(at, length);
            FileChannel ch = aligned(offset, length) && offset + length <= size ? channel : buffered;
            readFully(ch, bb, offset);
            dst.writerIndex(at + length);
        });
    }

    private void readFully(FileChannel ch, ByteBuffer bb, long offset) throws IOException {
        long pos = offset;
        while (bb.hasRemaining()) {
            int n = ch.read(bb, pos);
            if (n < 0) {
                throw new BackendException(BackendException.EIO, path + ": unexpected end of file at " + pos
                        + " (the file shrank while served?)");
            }
            pos += n;
        }
    }

    @Override
    public CompletableFuture<Void> pwrite(ByteBuf src, long offset, int flags) {
        if (!plain(src)) {
            ByteBuf tmp = allocateBuffer(src.readableBytes());
            tmp.writeBytes(src, src.readerIndex(), src.readableBytes());
            return pwrite(tmp, offset, flags).whenComplete((v, ex) -> tmp.release());
        }
        if (uring != null && (aligned(offset, src.readableBytes()) || !isDirect())) {
            return uring.write(src.nioBuffer(src.readerIndex(), src.readableBytes()), offset, (flags & FLAG_FUA) != 0);
        }
        return submit(() -> {
            int length = src.readableBytes();
            ByteBuffer bb = src.nioBuffer(src.readerIndex(), length);
            FileChannel ch = aligned(offset, length) ? channel : buffered;
            writeFully(ch, bb, offset);
            if ((flags & FLAG_FUA) != 0) {
                ch.force(false);
            }
        });
    }

    private static void writeFully(FileChannel ch, ByteBuffer bb, long offset) throws IOException {
        long pos = offset;
        while (bb.hasRemaining()) {
            pos += ch.write(bb, pos);
        }
    }

    @Override
    public CompletableFuture<Void> flush(int flags) {
        // fdatasync covers the whole file, whichever descriptor wrote the data.
        if (uring != null) {
            return uring.fdatasync();
        }
        return submit(() -> channel.force(false));
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length, int flags) {
        if (uring == null) {
            return BlockBackend.super.trim(offset, length, flags);
        }
        // Advisory: a file system without hole punching simply keeps the data.
        CompletableFuture<Void> f = uring.fallocate(UringFileIo.FALLOC_FL_PUNCH_HOLE | UringFileIo.FALLOC_FL_KEEP_SIZE, offset, length)
                .exceptionally(ex -> {
                    if (BackendException.errnoOf(ex) != BackendException.ENOTSUP) {
                        throw ex instanceof java.util.concurrent.CompletionException ce ? ce : new java.util.concurrent.CompletionException(ex);
                    }
                    return null;
                });
        return (flags & FLAG_FUA) != 0 ? f.thenCompose(v -> uring.fdatasync()) : f;
    }

    @Override
    public CompletableFuture<Void> zero(long offset, long length, int flags) {
        if (uring != null) {
            int mode = (flags & FLAG_MAY_TRIM) != 0
                    ? UringFileIo.FALLOC_FL_PUNCH_HOLE | UringFileIo.FALLOC_FL_KEEP_SIZE
                    : UringFileIo.FALLOC_FL_ZERO_RANGE | UringFileIo.FALLOC_FL_KEEP_SIZE;
            CompletableFuture<Void> f = uring.fallocate(mode, offset, length).handle((v, ex) -> {
                if (ex == null) {
                    return CompletableFuture.<Void>completedFuture(null);
                }
                if (BackendException.errnoOf(ex) == BackendException.ENOTSUP && (flags & FLAG_FAST_ZERO) == 0) {
                    return writeZeroes(offset, length, 0);   // no fallocate here: write them
                }
                return CompletableFuture.<Void>failedFuture(ex);
            }).thenCompose(x -> x);
            return (flags & FLAG_FUA) != 0 ? f.thenCompose(v -> uring.fdatasync()) : f;
        }
        return writeZeroes(offset, length, flags);
    }

    private CompletableFuture<Void> writeZeroes(long offset, long length, int flags) {
        if ((flags & FLAG_FAST_ZERO) != 0) {
            return CompletableFuture.failedFuture(new BackendException(BackendException.ENOTSUP, "no fast zero on a file"));
        }
        return submit(() -> {
            long pos = offset;
            long end = offset + length;
            // Unaligned head and tail through the buffered descriptor, the aligned middle direct.
            long alignedStart = Math.min(end, (pos + alignment - 1) & -(long) alignment);
            long alignedEnd = Math.max(alignedStart, end & -(long) alignment);
            if (pos < alignedStart) {
                writeFully(buffered, zeroes.nioBuffer(0, (int) (alignedStart - pos)), pos);
            }
            pos = alignedStart;
            while (pos < alignedEnd) {
                int n = (int) Math.min(ZERO_CHUNK, alignedEnd - pos);
                writeFully(channel, zeroes.nioBuffer(0, n), pos);
                pos += n;
            }
            if (alignedEnd < end) {
                writeFully(buffered, zeroes.nioBuffer(0, (int) (end - alignedEnd)), alignedEnd);
            }
            if ((flags & FLAG_FUA) != 0) {
                channel.force(false);
            }
        });
    }

    @Override
    public void close() throws IOException {
        if (uring != null) {
            uring.close();
        }
        io.shutdown();
        try {
            if (!io.awaitTermination(30, TimeUnit.SECONDS)) {
                log.warn("{}: I/O threads did not finish within 30 s", path);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        zeroes.release();
        try {
            channel.close();
        } finally {
            buffered.close();
        }
    }
}
