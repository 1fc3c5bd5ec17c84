package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.await;
import static io.clustermd.md.io.IoTesting.sparseFile;
import static org.assertj.core.api.Assertions.assertThat;

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

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Misaligned requests on an O_DIRECT member behave exactly like a byte array: random reads and writes at any
 * offset and length (bounced, read-modify-write) agree with a model, including concurrent writes that share a
 * partial block.
 */
class MisalignedIoPropertyTest {
    private static final int SIZE = 1 << 20;
    private static ExecutorService io;
    private static Path dir;

    @BeforeContainer
    static void setUp() throws Exception {
        io = Executors.newFixedThreadPool(8);
        dir = Files.createTempDirectory("member-io");
    }

    @AfterContainer
    static void tearDown() throws Exception {
        io.shutdown();
        io.awaitTermination(10, TimeUnit.SECONDS);
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(dir);
    }

    @Property(tries = 60)
    void sequentialRandomRequests_matchByteArrayModel(@ForAll long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] model = new byte[SIZE];
        Path p = sparseFile(Files.createTempFile(dir, "m", ".img"), SIZE);
        try (FileMemberDevice dev = MemberDevices.open(p, true, io)) {
            for (int i = 0; i < 40; i++) {
                int len = rnd.nextInt(3) == 0 ? rnd.nextInt(1, 64) : rnd.nextInt(1, 3 * 4096 + 1);
                int off = rnd.nextInt(SIZE - len + 1);
                switch (rnd.nextInt(4)) {
                    case 0, 1 -> {
                        byte[] data = new byte[len];
                        rnd.nextBytes(data);
                        await(dev.write(buffer(rnd, data), off, rnd.nextInt(4) == 0));
                        System.arraycopy(data, 0, model, off, len);
                    }
                    case 2 -> {
                        ByteBuffer dst = rnd.nextBoolean() ? ByteBuffer.allocate(len) : dev.allocate(len);
                        await(dev.read(dst, off));
                        assertThat(IoTesting.bytes(dst)).isEqualTo(Arrays.copyOfRange(model, off, off + len));
                    }
                    default -> {
                        if (rnd.nextBoolean()) {
                            await(dev.discard(off, len));
                        } else {
                            await(dev.writeZeroes(off, len));
                        }
                        Arrays.fill(model, off, off + len, (byte) 0);
                    }
                }
            }
            IoTesting.assertSameBytes(IoTesting.readBack(dev, 0, SIZE), model);
        }
        IoTesting.assertSameBytes(Files.readAllBytes(p), model);
        Files.delete(p);
    }

    @Property(tries = 30)
    void concurrentDisjointMisalignedWrites_inSharedBlocks_loseNothing(@ForAll long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] model = new byte[SIZE];
        Path p = sparseFile(Files.createTempFile(dir, "c", ".img"), SIZE);
        try (FileMemberDevice dev = MemberDevices.open(p, true, io)) {
            // Cut a 64 KiB window into disjoint pieces of 1..700 bytes: neighbours share partial blocks, so
            // each write's read-modify-write races with its neighbours' unless the edge blocks are locked.
            int base = 4096 * rnd.nextInt(SIZE / 4096 - 16);
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            int at = base;
            while (at < base + 65536) {
                int len = Math.min(rnd.nextInt(1, 701), base + 65536 - at);
                byte[] data = new byte[len];
                rnd.nextBytes(data);
                System.arraycopy(data, 0, model, at, len);
                inFlight.add(dev.write(buffer(rnd, data), at, false));
                at += len;
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
            IoTesting.assertSameBytes(IoTesting.readBack(dev, 0, SIZE), model);
            assertThat(dev.stats().misalignedRequests()).isPositive();
        }
        Files.delete(p);
    }

    /** The data in a heap buffer, an aligned buffer, or an unaligned direct buffer, with a random position. */
    private static ByteBuffer buffer(SplittableRandom rnd, byte[] data) {
        int pad = rnd.nextInt(3) * 17;
        ByteBuffer b = switch (rnd.nextInt(3)) {
            case 0 -> ByteBuffer.allocate(data.length + pad);
            case 1 -> AlignedBuffers.allocate(data.length + pad, 4096);
            default -> ByteBuffer.allocateDirect(data.length + pad);
        };
        b.position(pad);
        b.put(data);
        return b.position(pad);
    }
}
