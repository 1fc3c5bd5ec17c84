package io.clustermd.md.array;

import io.clustermd.md.ArrayCreator;
import io.clustermd.md.BitmapKind;
import io.clustermd.md.CreateOptions;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.io.ForwardingMemberDevice;
import io.clustermd.md.io.MemberDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The sync thread's life on real member files: a check continues from its saved position after
 * the array stopped, stop is bounded while a throttled resync runs under load, and a resync
 * window held by a write in flight is named in the progress (what status shows).
 */
class SyncLifecycleTest {

    static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private final ArrayFixture fixture = new ArrayFixture();

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    /** A store in memory, as the daemon's file would be across restarts. */
    static final class MemoryStore implements SyncCheckpointStore {
        volatile Saved saved;

        @Override
        public Optional<Saved> load() {
            return Optional.ofNullable(saved);
        }

        @Override
        public void save(Saved s) {
            saved = s;
        }

        @Override
        public void clear() {
            saved = null;
        }
    }

    private List<Path> create(long size, boolean clean) throws Exception {
        List<Path> paths = MemberFiles.sparse(dir, "m", 2, size);
        new ArrayCreator(InstantSource.fixed(Instant.EPOCH), new Random(7)).create(new CreateOptions(1, 0, 0, 2,
                BitmapKind.NONE, 0, null, "t", "h", 0, 0, 0, 5, clean, false, paths));
        return paths;
    }

    private MdArray start(List<Path> paths, long minKiB, long maxKiB, SyncCheckpointStore store,
                          UnaryOperator<MemberDevice> wrapSecond) throws Exception {
        return fixture.start(paths, (i, d) -> i == 0 ? d : wrapSecond.apply(d), minKiB, maxKiB, store);
    }

    private static long dataOffset(Path member) throws Exception {
        return MemberMetadataReader.read(member).superblock().dataOffset() * 512;
    }

    /** Makes one 4 KiB block of member 1 differ from member 0 (8 sectors for md's mismatch_cnt). */
    private static void corrupt(Path member, long arrayOffset) throws Exception {
        try (FileChannel ch = FileChannel.open(member, StandardOpenOption.WRITE)) {
            ByteBuffer junk = ByteBuffer.allocate(4096);
            new Random(arrayOffset).nextBytes(junk.array());
            ch.write(junk, dataOffset(member) + arrayOffset);
        }
    }

    private static void awaitIdle(MdArray array) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.syncProgress().action() == SyncEngine.Action.IDLE);
    }

    @Test
    void check_stoppedHalfway_nextStartContinuesFromTheSavedPositionAndCountsEveryMismatch() throws Exception {
        List<Path> paths = create(16 * MIB, true);
        corrupt(paths.get(1), 2 * MIB);
        corrupt(paths.get(1), 13 * MIB);
        MemoryStore store = new MemoryStore();
        MdArray first = start(paths, 1000, 4000, store, UnaryOperator.identity()); // 16 MiB take ~4 s
        first.requestCheck(false);
        await().atMost(20, TimeUnit.SECONDS).until(() -> first.syncProgress().doneBytes() >= 6 * MIB);
        first.stop();
        fixture.forget(first);
        SyncCheckpointStore.Saved saved = store.saved;
        assertThat(saved).isNotNull();
        assertThat(saved.action()).isEqualTo(SyncEngine.Action.CHECK);
        assertThat(saved.positionBytes()).isBetween(6 * MIB, 13 * MIB);
        assertThat(saved.mismatches()).as("md counts the whole 64 KiB sync request").isEqualTo(128);
        assertThat(first.checksCompleted()).isZero();

        MdArray second = start(paths, 1000, 1_000_000, store, UnaryOperator.identity());
        await().atMost(30, TimeUnit.SECONDS).until(() -> second.checksCompleted() == 1);
        assertThat(second.mismatches()).isEqualTo(256);
        assertThat(store.saved).as("nothing left to resume").isNull();
    }

    @Test
    void stop_throttledResyncUnderContinuousWrites_returnsWithinTheDocumentedBound() throws Exception {
        List<Path> paths = create(256 * MIB, false);                // everything needs resync
        MdArray array = start(paths, 100, 1_000_000, SyncCheckpointStore.NONE, UnaryOperator.identity());
        AtomicBoolean writing = new AtomicBoolean(true);
        java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
        CompletableFuture<Void> load = CompletableFuture.runAsync(() -> {
            Random r = new Random(3);
            ByteBuffer block = ByteBuffer.allocateDirect(4096);
            while (writing.get()) {
                try {
                    array.write(block.duplicate(), (r.nextInt(16 * 256)) * 4096L, false).join();
                    written.incrementAndGet();
                } catch (RuntimeException e) {
                    return; // refused once stopping
                }
            }
        });
        await().atMost(10, TimeUnit.SECONDS).until(() -> written.get() > 0
                && array.syncProgress().action() == SyncEngine.Action.RESYNC);
        Thread.sleep(500);  // the throttle sees the writes (or the writes it holds) and paces the resync
        long before = array.syncProgress().doneBytes();
        Thread.sleep(1000);
        // at 100 KiB/s: about 100 KiB a second, give or take a window; at full speed it would be done
        assertThat(array.syncProgress().doneBytes() - before).isLessThan(4 * MIB);
        assertThat(array.syncProgress().action()).isEqualTo(SyncEngine.Action.RESYNC);

        long t0 = System.nanoTime();
        array.stop();
        long tookMillis = (System.nanoTime() - t0) / 1_000_000;
        writing.set(false);
        load.get(10, TimeUnit.SECONDS);
        fixture.forget(array);
        assertThat(tookMillis).isLessThanOrEqualTo(MdArray.STOP_BOUND_MILLIS);
    }

    @Test
    void resync_windowHeldByAWriteInFlight_progressNamesTheWaitUntilTheWriteEnds() throws Exception {
        List<Path> paths = create(8 * MIB, false);
        long dataOffset = dataOffset(paths.get(1));
        long last = (MemberMetadataReader.read(paths.get(1)).superblock().size() * 512 - 1) / MIB * MIB;
        CompletableFuture<Void> gate = new CompletableFuture<>();
        // Foreground writes to the last MiB hang on member 1 until the gate opens; the sync's own
        // writes there come only after the window is raised, i.e. after the foreground write ended.
        MdArray array = start(paths, 1000, 4000, SyncCheckpointStore.NONE, d -> new GatedWrites(d, gate,
                dataOffset + last));
        CompletableFuture<Void> write = array.write(ByteBuffer.allocateDirect(4096), last + 8192, false);
        await().atMost(20, TimeUnit.SECONDS).until(() -> array.syncProgress().waitingFor() != null);
        assertThat(array.syncProgress().waitingFor())
                .isEqualTo("1 foreground write(s) in flight in the sync window at byte " + last);
        assertThat(array.syncProgress().doneBytes()).isEqualTo(last);

        gate.complete(null);
        write.get(10, TimeUnit.SECONDS);
        awaitIdle(array);
        assertThat(array.syncProgress().waitingFor()).isNull();
        long before = array.checksCompleted();
        array.requestCheck(false);
        await().atMost(30, TimeUnit.SECONDS).until(() -> array.checksCompleted() > before);
        assertThat(array.mismatches()).isZero();
    }

    /** Writes at or past {@code from} (member bytes) wait for {@code gate}. */
    private static final class GatedWrites extends ForwardingMemberDevice {
        private final CompletableFuture<Void> gate;
        private final long from;

        GatedWrites(MemberDevice device, CompletableFuture<Void> gate, long from) {
            super(device);
            this.gate = gate;
            this.from = from;
        }

        @Override public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
            return offset >= from ? gate.thenCompose(v -> delegate.write(src, offset, fua)) : delegate.write(src, offset, fua);
        }
    }
}
