package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.await;
import static io.clustermd.md.io.IoTesting.failure;
import static io.clustermd.md.io.IoTesting.filled;
import static io.clustermd.md.io.IoTesting.readBack;
import static io.clustermd.md.io.IoTesting.sparseFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.md.io.MemberIoException.Reason;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FileMemberDevice on real files in a temporary directory, O_DIRECT unless a test says otherwise. */
class FileMemberDeviceTest {
    private static final long SIZE = 64L << 20;
    private static ExecutorService io;

    @TempDir
    Path dir;

    @BeforeAll
    static void startIo() {
        io = Executors.newFixedThreadPool(8);
    }

    @AfterAll
    static void stopIo() throws InterruptedException {
        io.shutdown();
        assertThat(io.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private FileMemberDevice member(String name) throws Exception {
        return MemberDevices.open(sparseFile(dir.resolve(name), SIZE), true, io);
    }

    @Test
    void open_directFile_reportsSizeAlignmentAndMode() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            assertThat(dev.sizeBytes()).isEqualTo(SIZE);
            assertThat(dev.alignment()).isEqualTo(4096);
            assertThat(dev.isDirect()).isTrue();
            assertThat(dev.isBlockDevice()).isFalse();
            assertThat(dev.name()).isEqualTo(dir.resolve("a.img").toString());
            assertThat(dev.hasNativeFallocate()).isTrue();
            ByteBuffer b = dev.allocate(12288);
            assertThat(b.capacity()).isEqualTo(12288);
            assertThat(AlignedBuffers.isAligned(b, 4096)).isTrue();
        }
    }

    @Test
    void writeRead_randomAlignedOffsetsAndSizes_roundTrip() throws Exception {
        SplittableRandom rnd = new SplittableRandom(42);
        byte[] model = new byte[(int) SIZE];
        try (FileMemberDevice dev = member("a.img")) {
            for (int i = 0; i < 200; i++) {
                int blocks = 1 + rnd.nextInt(64);
                long offset = 4096L * rnd.nextInt((int) (SIZE / 4096) - blocks + 1);
                byte[] data = new byte[blocks * 4096];
                rnd.nextBytes(data);
                await(dev.write(filled(dev, data), offset, rnd.nextBoolean()));
                System.arraycopy(data, 0, model, (int) offset, data.length);
                int rblocks = 1 + rnd.nextInt(64);
                long roff = 4096L * rnd.nextInt((int) (SIZE / 4096) - rblocks + 1);
                assertThat(readBack(dev, roff, rblocks * 4096))
                        .isEqualTo(Arrays.copyOfRange(model, (int) roff, (int) roff + rblocks * 4096));
            }
            await(dev.flush());
            assertThat(dev.stats().misalignedRequests()).isZero();
            assertThat(dev.stats().bufferBounces()).isZero();
            assertThat(dev.stats().writes()).isEqualTo(200);
            assertThat(dev.stats().flushes()).isEqualTo(1);
        }
        // What the device wrote is what the file holds, seen through an independent, buffered reader.
        IoTesting.assertSameBytes(Files.readAllBytes(dir.resolve("a.img")), model);
    }

    @Test
    void write_manyInFlight_allLandWhereTheyBelong() throws Exception {
        int n = 512;
        try (FileMemberDevice dev = member("a.img")) {
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] data = new byte[8192];
                Arrays.fill(data, (byte) (i * 7 + 1));
                inFlight.add(dev.write(filled(dev, data), i * 8192L, i % 5 == 0));
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            List<CompletableFuture<Void>> reads = new ArrayList<>();
            List<ByteBuffer> bufs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                ByteBuffer b = dev.allocate(8192);
                bufs.add(b);
                reads.add(dev.read(b, i * 8192L));
            }
            CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
            for (int i = 0; i < n; i++) {
                byte[] expect = new byte[8192];
                Arrays.fill(expect, (byte) (i * 7 + 1));
                assertThat(IoTesting.bytes(bufs.get(i))).as("block %d", i).isEqualTo(expect);
            }
            assertThat(dev.stats().writes()).isEqualTo(n);
            assertThat(dev.stats().bytesWritten()).isEqualTo(n * 8192L);
        }
    }

    @Test
    void write_fua_isOnDiskThroughAnIndependentDescriptorAtCompletion() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 0x5a);
            await(dev.write(filled(dev, data), 1 << 20, true));
            // O_DIRECT + O_DSYNC: a second, unrelated descriptor sees the bytes without any flush from us.
            try (RandomAccessFile raf = new RandomAccessFile(dir.resolve("a.img").toFile(), "r")) {
                byte[] got = new byte[4096];
                raf.seek(1 << 20);
                raf.readFully(got);
                assertThat(got).isEqualTo(data);
            }
        }
    }

    @Test
    void readWrite_leaveCallerBufferPositionAndLimitAlone() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            ByteBuffer src = dev.allocate(16384);
            for (int i = 0; i < 16384; i++) {
                src.put((byte) i);
            }
            src.position(4096).limit(12288);
            await(dev.write(src, 0, false));
            assertThat(src.position()).isEqualTo(4096);
            assertThat(src.limit()).isEqualTo(12288);
            ByteBuffer dst = dev.allocate(16384).position(4096).limit(12288);
            await(dev.read(dst, 0));
            assertThat(dst.position()).isEqualTo(4096);
            assertThat(dst.limit()).isEqualTo(12288);
            assertThat(IoTesting.bytes(dst)).isEqualTo(IoTesting.bytes(src));
        }
    }

    @Test
    void readWrite_heapAndUnalignedBuffers_areBouncedAndCounted() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            byte[] data = new byte[8192];
            new SplittableRandom(7).nextBytes(data);
            await(dev.write(ByteBuffer.wrap(data), 8192, false));
            ByteBuffer odd = ByteBuffer.allocateDirect(8192 + 4096 + 1).position(1).limit(8193).slice();
            assertThat(AlignedBuffers.isAligned(odd, 4096)).isFalse();
            await(dev.read(odd, 8192));
            assertThat(IoTesting.bytes(odd)).isEqualTo(data);
            ByteBuffer heap = ByteBuffer.allocate(8192);
            await(dev.read(heap, 8192));
            assertThat(heap.array()).isEqualTo(data);
            assertThat(dev.stats().bufferBounces()).isEqualTo(3);
            assertThat(dev.stats().misalignedRequests()).isZero();
        }
    }

    @Test
    void discardAndWriteZeroes_readBackAsZeroes_withFallocate() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            zeroesRoundTrip(dev);
            assertThat(dev.stats().zeroFillFallbacks()).isZero();
        }
        // The punched interior (8 MiB less the two partial edge blocks) no longer occupies blocks; the zeroed
        // range stays allocated (ZERO_RANGE keeps the allocation, as WRITE_ZEROES without NO_HOLE may).
        Process stat = new ProcessBuilder("stat", "-c", "%b", dir.resolve("a.img").toString()).start();
        long allocated = Long.parseLong(new String(stat.getInputStream().readAllBytes()).trim()) * 512;
        assertThat(stat.waitFor()).isZero();
        // stat's block count also holds the file system's own blocks for the file (an ext4 extent
        // block once the file is fragmented, as on a busy disk): a few KiB over is still "punched"
        long expected = (16L << 20) - ((8L << 20) - 8192);
        assertThat(allocated).isBetween(expected, expected + (64 << 10));
    }

    @Test
    void discardAndWriteZeroes_readBackAsZeroes_withoutFallocate() throws Exception {
        Path p = sparseFile(dir.resolve("b.img"), SIZE);
        try (FileMemberDevice dev = MemberDevices.open(p, FileMemberDevice.Options.DEFAULT.withNativeFallocate(false),
                io)) {
            assertThat(dev.hasNativeFallocate()).isFalse();
            zeroesRoundTrip(dev);
            assertThat(dev.stats().zeroFillFallbacks()).isEqualTo(2);
        }
    }

    /** Fills 16 MiB, discards and zeroes ranges with misaligned edges, and checks every byte. */
    private static void zeroesRoundTrip(FileMemberDevice dev) throws Exception {
        byte[] model = new byte[16 << 20];
        Arrays.fill(model, (byte) 0xee);
        await(dev.write(filled(dev, model), 0, false));
        long dOff = 1000;
        long dLen = (8 << 20) - 3000;
        await(dev.discard(dOff, dLen));
        Arrays.fill(model, (int) dOff, (int) (dOff + dLen), (byte) 0);
        long zOff = (12 << 20) + 512;
        long zLen = (2 << 20) + 100;
        await(dev.writeZeroes(zOff, zLen));
        Arrays.fill(model, (int) zOff, (int) (zOff + zLen), (byte) 0);
        await(dev.flush());
        IoTesting.assertSameBytes(readBack(dev, 0, 16 << 20), model);
        assertThat(dev.stats().discards()).isEqualTo(1);
        assertThat(dev.stats().writeZeroes()).isEqualTo(1);
    }

    @Test
    void read_pastTheEnd_failsWithClearMessage() throws Exception {
        try (FileMemberDevice dev = member("a.img")) {
            MemberIoException e = failure(dev.read(dev.allocate(8192), SIZE - 4096));
            assertThat(e.reason()).isEqualTo(Reason.OUT_OF_RANGE);
            assertThat(e.device()).isEqualTo(dev.name());
            assertThat(e.operation()).isEqualTo(MemberOp.READ);
            assertThat(e.offset()).isEqualTo(SIZE - 4096);
            assertThat(e.length()).isEqualTo(8192);
            assertThat(e).hasMessage(dev.name() + ": read of 8192 bytes at " + (SIZE - 4096)
                    + " failed: beyond the end of the device (size " + SIZE + " bytes)");
            assertThat(failure(dev.write(dev.allocate(4096), SIZE, false)).reason()).isEqualTo(Reason.OUT_OF_RANGE);
            assertThat(failure(dev.discard(0, SIZE + 1)).reason()).isEqualTo(Reason.OUT_OF_RANGE);
            assertThat(failure(dev.writeZeroes(-4096, 4096)).reason()).isEqualTo(Reason.INVALID);
            assertThat(Files.size(dir.resolve("a.img"))).as("nothing extended the file").isEqualTo(SIZE);
            assertThat(dev.stats().errors()).isEqualTo(4);
        }
    }

    @Test
    void read_afterFileTruncatedWhileOpen_failsAsShortRead() throws Exception {
        Path p = dir.resolve("a.img");
        try (FileMemberDevice dev = member("a.img")) {
            await(dev.write(filled(dev, new byte[4096]), SIZE - 4096, false));
            sparseFile(p, SIZE / 2);
            MemberIoException e = failure(dev.read(dev.allocate(4096), SIZE - 4096));
            assertThat(e.reason()).isEqualTo(Reason.OUT_OF_RANGE);
            assertThat(e.getMessage())
                    .startsWith(p + ": read of 4096 bytes at " + (SIZE - 4096) + " failed: short read")
                    .contains("it is now " + SIZE / 2 + " bytes").contains("truncated or shrunk while open");
            // Below the new end the device still works.
            await(dev.read(dev.allocate(4096), 0));
        }
    }

    @Test
    void io_afterFileDeletedWhileOpen_keepsWorkingAndIsDetectable() throws Exception {
        Path p = dir.resolve("a.img");
        try (FileMemberDevice dev = member("a.img")) {
            assertThat(dev.pathStillRefersToDevice()).isTrue();
            Files.delete(p);
            // Like the kernel with an open block device whose node is gone: the open file keeps working ...
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 3);
            await(dev.write(filled(dev, data), 0, true));
            assertThat(readBack(dev, 0, 4096)).isEqualTo(data);
            // ... and the owner can tell that the path no longer names it, also after a new file took the name.
            assertThat(dev.pathStillRefersToDevice()).isFalse();
            sparseFile(p, SIZE);
            assertThat(dev.pathStillRefersToDevice()).isFalse();
        }
    }

    @Test
    void close_waitsForInFlightAndRefusesLaterOperations() throws Exception {
        FileMemberDevice dev = member("a.img");
        List<CompletableFuture<Void>> inFlight = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            inFlight.add(dev.write(filled(dev, new byte[65536]), i * 65536L, false));
        }
        dev.close();
        for (CompletableFuture<Void> f : inFlight) {
            assertThat(f).isDone();
            await(f);
        }
        MemberIoException e = failure(dev.read(dev.allocate(4096), 0));
        assertThat(e.reason()).isEqualTo(Reason.CLOSED);
        assertThat(e).hasMessageEndingWith("failed: the device is closed");
        dev.close();
    }

    @Test
    void close_fromACompletionCallback_doesNotWaitForItself() throws Exception {
        FileMemberDevice dev = member("a.img");
        CompletableFuture<Void> closedInCallback = dev.write(filled(dev, new byte[4096]), 0, false)
                .thenRun(dev::close);
        closedInCallback.get(10, TimeUnit.SECONDS);
        assertThat(failure(dev.flush()).reason()).isEqualTo(Reason.CLOSED);
    }

    @Test
    void io_threadInterrupted_channelIsReopenedAndOperationSucceeds() throws Exception {
        // A thread that arrives interrupted makes FileChannel close itself (ClosedByInterruptException).
        ExecutorService interrupting = Executors.newSingleThreadExecutor();
        try (FileMemberDevice dev = MemberDevices.open(sparseFile(dir.resolve("a.img"), SIZE), true,
                r -> interrupting.execute(() -> {
                    Thread.currentThread().interrupt();
                    r.run();
                    Thread.interrupted();
                }))) {
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 9);
            await(dev.write(filled(dev, data), 4096, false));
            assertThat(readBack(dev, 4096, 4096)).isEqualTo(data);
            assertThat(dev.channelReopens()).isGreaterThanOrEqualTo(2);
        } finally {
            interrupting.shutdown();
        }
    }

    @Test
    void buffered_misalignedIsNativeAndRoundTrips() throws Exception {
        Path p = sparseFile(dir.resolve("c.img"), SIZE + 100);
        try (FileMemberDevice dev = MemberDevices.open(p, false, io)) {
            assertThat(dev.alignment()).isEqualTo(1);
            assertThat(dev.sizeBytes()).isEqualTo(SIZE + 100);
            byte[] data = new byte[777];
            new SplittableRandom(3).nextBytes(data);
            await(dev.write(ByteBuffer.wrap(data), SIZE + 100 - 777, true));
            ByteBuffer back = ByteBuffer.allocate(777);
            await(dev.read(back, SIZE + 100 - 777));
            assertThat(back.array()).isEqualTo(data);
            assertThat(dev.stats().misalignedRequests()).isZero();
        }
    }

    @Test
    void open_directFileWithUnalignedSize_isRefusedWithAdvice() throws Exception {
        Path p = sparseFile(dir.resolve("odd.img"), SIZE + 512);
        assertThatThrownBy(() -> MemberDevices.open(p, true, io))
                .hasMessageContaining(p + ": size " + (SIZE + 512) + " is not a multiple of 4096 bytes")
                .hasMessageContaining("truncate -s " + (SIZE + 4096));
    }

    @Test
    void readOnlyOpen_writesFailWithoutTouchingTheFile() throws Exception {
        Path p = sparseFile(dir.resolve("a.img"), SIZE);
        try (FileMemberDevice dev = MemberDevices.open(p, FileMemberDevice.Options.DEFAULT.withReadOnly(true), io)) {
            MemberIoException e = failure(dev.write(dev.allocate(4096), 0, false));
            assertThat(e.reason()).isEqualTo(Reason.READ_ONLY);
            assertThat(e).hasMessage(p + ": write of 4096 bytes at 0 failed: the device is open read-only");
            assertThat(failure(dev.discard(0, 4096)).reason()).isEqualTo(Reason.READ_ONLY);
            await(dev.read(dev.allocate(4096), 0));
        }
    }
}
