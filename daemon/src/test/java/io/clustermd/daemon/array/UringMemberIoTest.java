package io.clustermd.daemon.array;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.clustermd.md.io.FileMemberDevice;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberIoException;
import io.clustermd.md.io.MemberIoStats;
import io.clustermd.nbd.NbdServer;
import io.clustermd.nbd.uring.IoUringQueue;
import io.netty.channel.EventLoopGroup;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Member I/O through the NBD event loops' io_uring ({@link UringMemberQueue} in a {@link FileMemberDevice}) on
 * real O_DIRECT files: operations issued on a loop complete on that loop with no I/O thread, everything else
 * still works through the I/O threads, and a ring that goes away loses no operation.
 */
class UringMemberIoTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private EventLoopGroup loops;
    private IoUringQueue ring;
    private ExecutorService io;
    /** Tasks handed to the member I/O threads. */
    private final AtomicInteger ioTasks = new AtomicInteger();
    private FileMemberDevice device;
    private Path file;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(IoUringQueue.isAvailable(), "io_uring is required on the machines this project supports");
        loops = NbdServer.newEventLoopGroup(NbdServer.Transport.IO_URING, 1);
        ring = new IoUringQueue(loops);
        io = Executors.newFixedThreadPool(2, Thread.ofPlatform().name("test-io-", 0).daemon().factory());
        file = dir.resolve("member.img");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(8L * MIB);
        }
        Executor counting = task -> {
            ioTasks.incrementAndGet();
            io.execute(task);
        };
        device = FileMemberDevice.open(file, FileMemberDevice.Options.DEFAULT, counting, new UringMemberQueue(ring));
    }

    @AfterEach
    void tearDown() {
        if (device != null) {
            device.close();
        }
        if (ring != null) {
            ring.close();
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
        }
        if (io != null) {
            io.shutdownNow();
        }
    }

    /** Runs {@code op} on the event loop and waits for its result, recording the completing thread. */
    private <T> T onLoop(Supplier<CompletableFuture<T>> op, String[] completedOn) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        loops.next().execute(() -> op.get().whenComplete((v, e) -> {
            completedOn[0] = Thread.currentThread().getName();
            if (e != null) {
                result.completeExceptionally(e);
            } else {
                result.complete(v);
            }
        }));
        return result.get(30, TimeUnit.SECONDS);
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void writeAndRead_onEventLoop_completeOnTheLoopWithoutIoThreads() throws Exception {
        byte[] data = random(256 * 1024, 1);
        ByteBuffer src = device.allocate(data.length).put(data).flip();
        String[] thread = new String[1];
        onLoop(() -> device.write(src, 4096L * 7, false), thread);
        assertTrue(thread[0].startsWith("nbd-io"), "write completed on " + thread[0]);
        onLoop(() -> device.write(src, 2L * MIB, true), thread);
        onLoop(device::flush, thread);
        assertTrue(thread[0].startsWith("nbd-io"), "flush completed on " + thread[0]);

        ByteBuffer dst = device.allocate(data.length);
        onLoop(() -> device.read(dst, 2L * MIB), thread);
        assertTrue(thread[0].startsWith("nbd-io"), "read completed on " + thread[0]);
        byte[] back = new byte[data.length];
        dst.duplicate().get(back);
        assertArrayEquals(data, back);
        assertEquals(0, dst.position(), "the caller's buffer position is not moved");

        byte[] onDisk = Files.readAllBytes(file);
        assertArrayEquals(data, java.util.Arrays.copyOfRange(onDisk, 4096 * 7, 4096 * 7 + data.length));
        MemberIoStats s = device.stats();
        assertEquals(2, s.writes());
        assertEquals(1, s.reads());
        assertEquals(1, s.flushes());
        assertEquals(0, s.errors());
        assertEquals(0, ioTasks.get(), "no operation went to an I/O thread");
    }

    @Test
    void misalignedWrite_onEventLoop_goesThroughIoThreadsAndReadsBack() throws Exception {
        byte[] data = random(1000, 2);
        ByteBuffer src = ByteBuffer.wrap(data);
        String[] thread = new String[1];
        onLoop(() -> device.write(src, 12_345, false), thread);
        assertEquals(1, ioTasks.get(), "the misaligned write went to an I/O thread");
        ByteBuffer dst = device.allocate(8192);
        onLoop(() -> device.read(dst, 8192), thread);
        byte[] back = new byte[1000];
        dst.position(12_345 - 8192).get(back);
        assertArrayEquals(data, back);
        assertEquals(1, device.stats().misalignedRequests());
    }

    @Test
    void write_offEventLoop_runsOnIoThreads() throws Exception {
        ByteBuffer src = device.allocate(4096).put(random(4096, 3)).flip();
        device.write(src, 0, false).get(30, TimeUnit.SECONDS);
        assertEquals(1, ioTasks.get());
        assertEquals(1, device.stats().writes());
    }

    @Test
    void read_afterFileShrank_failsOutOfRangeWithTheReason() throws Exception {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(MIB);
        }
        ByteBuffer dst = device.allocate(4096);
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> onLoop(() -> device.read(dst, 4L * MIB), new String[1]));
        MemberIoException m = assertInstanceOf(MemberIoException.class, e.getCause());
        assertEquals(MemberIoException.Reason.OUT_OF_RANGE, m.reason());
        assertTrue(m.getMessage().contains(file.toString()), m.getMessage());
        assertTrue(m.getMessage().contains("shrunk"), m.getMessage());
        assertEquals(1, device.stats().errors());
    }

    @Test
    void writesOnAClosedRing_runOnIoThreadsInstead() throws Exception {
        ring.close();
        loops.next().submit(() -> { }).sync(); // the cancellation has run on the loop
        byte[] data = random(64 * 1024, 6);
        int n = 16;
        writeOnLoop(data, n, () -> { }).get(30, TimeUnit.SECONDS);
        assertEquals(n, ioTasks.get(), "every write fell back to an I/O thread");
        assertWritten(data, n);
    }

    @Test
    void writesQueuedOnTheRing_whenItCloses_stillComplete() throws Exception {
        byte[] data = random(64 * 1024, 4);
        int n = 64;
        // The ring is closed while the writes are queued on it: they complete there (Netty removes a
        // cancelled registration only after its outstanding completions).
        writeOnLoop(data, n, ring::close).get(30, TimeUnit.SECONDS);
        assertEquals(n, device.stats().writes());
        assertWritten(data, n);
    }

    /** On the loop: {@code n} writes of {@code data} back to back from offset 0, then {@code after}. */
    private CompletableFuture<Void> writeOnLoop(byte[] data, int n, Runnable after) {
        CompletableFuture<Void> all = new CompletableFuture<>();
        loops.next().execute(() -> {
            CompletableFuture<?>[] writes = new CompletableFuture<?>[n];
            for (int i = 0; i < n; i++) {
                ByteBuffer src = device.allocate(data.length).put(data).flip();
                writes[i] = device.write(src, (long) i * data.length, false);
            }
            after.run();
            CompletableFuture.allOf(writes).whenComplete((v, e) -> {
                if (e != null) {
                    all.completeExceptionally(e);
                } else {
                    all.complete(null);
                }
            });
        });
        return all;
    }

    private void assertWritten(byte[] data, int n) throws Exception {
        byte[] onDisk = Files.readAllBytes(file);
        for (int i = 0; i < n; i++) {
            assertArrayEquals(data, java.util.Arrays.copyOfRange(onDisk, i * data.length, (i + 1) * data.length),
                    "write " + i);
        }
        assertEquals(0, device.stats().errors());
    }

    @Test
    void close_waitsForOperationsQueuedOnTheRing() throws Exception {
        ByteBuffer src = device.allocate(MIB).put(random(MIB, 5)).flip();
        CompletableFuture<CompletableFuture<Void>> submitted = new CompletableFuture<>();
        loops.next().execute(() -> submitted.complete(device.write(src, 0, true)));
        CompletableFuture<Void> write = submitted.get(30, TimeUnit.SECONDS);
        MemberDevice d = device;
        device = null;
        d.close();
        assertTrue(write.isDone(), "close returned before the queued write completed");
        write.get();
    }
}
