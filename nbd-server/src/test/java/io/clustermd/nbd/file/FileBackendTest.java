package io.clustermd.nbd.file;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.nbd.BlockBackend;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link FileBackend} on real files: O_DIRECT and buffered paths, alignment, zeroing, bad input. */
class FileBackendTest {
    @TempDir
    Path dir;

    private Path file(long size) throws IOException {
        Path f = dir.resolve("f.img");
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(size);
        }
        return f;
    }

    private static byte[] random(int n, int seed) {
        byte[] a = new byte[n];
        new Random(seed).nextBytes(a);
        return a;
    }

    private static void write(FileBackend b, long off, byte[] d, int flags) throws Exception {
        ByteBuf buf = b.allocateBuffer(d.length);
        buf.writeBytes(d);
        try {
            b.pwrite(buf, off, flags).get(30, TimeUnit.SECONDS);
        } finally {
            buf.release();
        }
    }

    private static byte[] read(FileBackend b, long off, int n) throws Exception {
        ByteBuf buf = b.allocateBuffer(n);
        try {
            b.pread(buf, off, n, 0).get(30, TimeUnit.SECONDS);
            assertThat(buf.readableBytes()).isEqualTo(n);
            byte[] a = new byte[n];
            buf.readBytes(a);
            return a;
        } finally {
            buf.release();
        }
    }

    @Test
    void direct_alignedWriteAndRead_reachTheFile() throws Exception {
        Path f = file(1 << 20);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS)) {
            assertThat(b.isDirect()).isTrue();
            assertThat(b.minimumBlockSize()).isEqualTo(4096);
            byte[] d = random(65536, 1);
            write(b, 8192, d, BlockBackend.FLAG_FUA);
            assertThat(read(b, 8192, d.length)).isEqualTo(d);
            b.flush(0).get(30, TimeUnit.SECONDS);
            assertThat(Arrays.copyOfRange(Files.readAllBytes(f), 8192, 8192 + d.length)).isEqualTo(d);
        }
        assertThat(AlignedBufferPool.SHARED.outstanding()).isZero();
    }

    @Test
    void direct_unalignedRequests_goThroughThePageCacheCoherently() throws Exception {
        Path f = file(1 << 20);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS)) {
            byte[] d = random(10_000, 2);
            write(b, 4096, random(16384, 3), 0);   // direct
            write(b, 5000, d, 0);                  // unaligned: buffered descriptor
            assertThat(read(b, 5000, d.length)).isEqualTo(d);      // unaligned read
            byte[] block = read(b, 4096, 16384);                   // direct read sees the buffered write
            assertThat(Arrays.copyOfRange(block, 904, 904 + d.length)).isEqualTo(d);
        }
    }

    @Test
    void direct_unalignedFileTail_isServed() throws Exception {
        Path f = file(10_000);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS)) {
            assertThat(b.size()).isEqualTo(10_000);
            byte[] d = random(10_000 - 8192, 4);
            write(b, 8192, d, 0);
            assertThat(read(b, 8192, d.length)).isEqualTo(d);
        }
        assertThat(Files.size(f)).as("O_DIRECT must not extend the file").isEqualTo(10_000);
    }

    @Test
    void zero_unalignedRange_zeroesExactlyThatRange() throws Exception {
        Path f = file(4 << 20);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS)) {
            byte[] d = random(3 << 20, 5);
            write(b, 0, d, 0);
            b.zero(1000, (2 << 20) + 5000, BlockBackend.FLAG_FUA).get(30, TimeUnit.SECONDS);
            byte[] want = d.clone();
            Arrays.fill(want, 1000, 1000 + (2 << 20) + 5000, (byte) 0);
            assertThat(read(b, 0, 3 << 20)).isEqualTo(want);
            assertThatThrownBy(() -> b.zero(0, 4096, BlockBackend.FLAG_FAST_ZERO).get())
                    .hasMessageContaining("no fast zero");
        }
    }

    @Test
    void buffered_option_servesThroughThePageCache() throws Exception {
        Path f = file(1 << 20);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS.withDirect(false))) {
            assertThat(b.isDirect()).isFalse();
            assertThat(b.minimumBlockSize()).isEqualTo(1);
            byte[] d = random(333, 6);
            ByteBuf heap = Unpooled.wrappedBuffer(d);
            b.pwrite(heap, 7, 0).get(30, TimeUnit.SECONDS);
            assertThat(read(b, 7, 333)).isEqualTo(d);
        }
    }

    @Test
    void ioUring_readWriteFuaFlushFromAForeignThread_reachTheFile() throws Exception {
        Path f = file(4 << 20);
        io.netty.channel.EventLoopGroup g = io.clustermd.nbd.NbdServer.newEventLoopGroup(io.clustermd.nbd.NbdServer.Transport.IO_URING, 2);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS, g)) {
            byte[] d = random(1 << 20, 7);
            write(b, 1 << 20, d, BlockBackend.FLAG_FUA);
            write(b, 4096, random(10, 8), 0); // unaligned: I/O threads, buffered descriptor
            b.flush(0).get(30, TimeUnit.SECONDS);
            assertThat(read(b, 1 << 20, d.length)).isEqualTo(d);
            assertThat(Arrays.copyOfRange(Files.readAllBytes(f), 1 << 20, (1 << 20) + d.length)).isEqualTo(d);
            assertThat(read(b, 4096, 10)).isEqualTo(random(10, 8));
        } finally {
            g.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void ioUring_trimAndZero_useFallocateAndReadBackZeroes() throws Exception {
        Path f = file(4 << 20);
        io.netty.channel.EventLoopGroup g = io.clustermd.nbd.NbdServer.newEventLoopGroup(io.clustermd.nbd.NbdServer.Transport.IO_URING, 1);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS, g)) {
            assertThat(b.canTrim()).isTrue();
            assertThat(b.canFastZero()).isTrue();
            byte[] d = random(1 << 20, 9);
            write(b, 0, d, 0);
            b.trim(0, 65536, 0).get(30, TimeUnit.SECONDS);
            b.zero(65536, 65536, BlockBackend.FLAG_FAST_ZERO | BlockBackend.FLAG_FUA).get(30, TimeUnit.SECONDS);
            b.zero(200_000, 1000, BlockBackend.FLAG_MAY_TRIM).get(30, TimeUnit.SECONDS);
            byte[] want = d.clone();
            Arrays.fill(want, 0, 131072, (byte) 0);
            Arrays.fill(want, 200_000, 201_000, (byte) 0);
            assertThat(read(b, 0, 1 << 20)).isEqualTo(want);
        } finally {
            g.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void ioUring_onEpollLoops_isRefusedClearly() {
        io.netty.channel.EventLoopGroup g = io.clustermd.nbd.NbdServer.newEventLoopGroup(io.clustermd.nbd.NbdServer.Transport.EPOLL, 1);
        try {
            assertThatThrownBy(() -> FileBackend.open(file(8192), FileBackend.Options.DEFAULTS, g))
                    .hasMessageContaining("not io_uring loops");
        } finally {
            g.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void heapAndCompositeBuffers_areCopiedThroughAlignedOnes() throws Exception {
        Path f = file(1 << 20);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS)) {
            byte[] d = random(8192, 10);
            io.netty.buffer.CompositeByteBuf src = Unpooled.compositeBuffer();
            src.addComponents(true, Unpooled.wrappedBuffer(d, 0, 4096), Unpooled.directBuffer(4096).writeBytes(d, 4096, 4096));
            b.pwrite(src, 4096, 0).get(30, TimeUnit.SECONDS);
            src.release();
            ByteBuf heap = Unpooled.buffer(8192);
            b.pread(heap, 4096, 8192, 0).get(30, TimeUnit.SECONDS);
            assertThat(io.netty.buffer.ByteBufUtil.getBytes(heap)).isEqualTo(d);
            heap.release();
        }
        assertThat(AlignedBufferPool.SHARED.outstanding()).isZero();
    }

    @Test
    void open_missingFile_saysHowToCreateIt() {
        assertThatThrownBy(() -> FileBackend.open(dir.resolve("nope.img"), FileBackend.Options.DEFAULTS))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining("truncate -s");
    }

    @Test
    void open_directory_isRefused() {
        assertThatThrownBy(() -> FileBackend.open(dir, FileBackend.Options.DEFAULTS))
                .hasMessageContaining("is a directory");
    }

    @Test
    void open_emptyFile_isRefused() throws Exception {
        Path f = file(0);
        assertThatThrownBy(() -> FileBackend.open(f, FileBackend.Options.DEFAULTS))
                .hasMessageContaining("is empty").hasMessageContaining("truncate -s");
    }

    @Test
    void readOnly_refusesToOpenForWriteButServesReads() throws Exception {
        Path f = file(8192);
        try (FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS.withReadOnly(true))) {
            assertThat(b.isReadOnly()).isTrue();
            assertThat(read(b, 0, 4096)).isEqualTo(new byte[4096]);
            ByteBuf buf = b.allocateBuffer(4096).writeZero(4096);
            assertThatThrownBy(() -> b.pwrite(buf, 0, 0).get()).hasRootCauseInstanceOf(java.nio.channels.NonWritableChannelException.class);
            buf.release();
        }
    }

    @Test
    void closedBackend_failsNewRequestsWithEshutdown() throws Exception {
        Path f = file(8192);
        FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS);
        b.close();
        ByteBuf buf = b.allocateBuffer(4096);
        assertThatThrownBy(() -> b.pread(buf, 0, 4096, 0).get()).hasMessageContaining("is closed");
        buf.release();
    }

    @Test
    void alignedPool_buffersHaveExactCapacityAndAreCounted() {
        AlignedBufferPool pool = new AlignedBufferPool();
        for (int n : new int[] {1, 512, 4096, 4097, 1 << 20, (1 << 26) + 1}) {
            ByteBuf b = pool.allocate(n);
            assertThat(b.capacity()).isEqualTo(n);
            assertThat(b.maxCapacity()).isEqualTo(n);
            assertThat(b.writerIndex()).isZero();
            assertThat(pool.outstanding()).isEqualTo(1);
            b.release();
            assertThat(pool.outstanding()).isZero();
        }
    }
}
