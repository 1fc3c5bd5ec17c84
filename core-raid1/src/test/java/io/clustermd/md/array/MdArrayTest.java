package io.clustermd.md.array;

import io.clustermd.md.ArrayCreator;
import io.clustermd.md.BitmapKind;
import io.clustermd.md.CreateOptions;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.Raid10Layout;
import io.clustermd.md.io.FaultInjectingMemberDevice;
import io.clustermd.md.io.FaultPlan;
import io.clustermd.md.io.ForwardingMemberDevice;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberDevices;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The array engine on real files with O_DIRECT (no bitmap here; the bitmap has its own tests):
 * mirrored data, member failure, read-error recovery, check/repair, add and recovery, unclean
 * restart with resync.
 */
class MdArrayTest {

    static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private final ArrayFixture fixture = new ArrayFixture();
    private final ExecutorService io = fixture.io;

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    private List<Path> create(int level, int devices, long size, boolean clean) throws Exception {
        List<Path> paths = MemberFiles.sparse(dir, "m", devices, size);
        new ArrayCreator(InstantSource.fixed(Instant.EPOCH), new Random(7)).create(new CreateOptions(level,
                level == 10 ? Raid10Layout.parse("n2") : 0, level == 10 ? 64 : 0, devices, BitmapKind.NONE, 0, null,
                "t", "h", 0, 0, 0, 5, clean, false, paths));
        return paths;
    }

    private MdArray start(List<Path> paths, List<FaultInjectingMemberDevice> faults) throws Exception {
        return start(paths, faults, UnaryOperator.identity());
    }

    private MdArray start(List<Path> paths, List<FaultInjectingMemberDevice> faults, UnaryOperator<MemberDevice> wrap)
            throws Exception {
        return fixture.start(paths, (i, d) -> {
            if (faults != null) {
                FaultInjectingMemberDevice f = new FaultInjectingMemberDevice(d, io);
                faults.add(f);
                d = f;
            }
            return wrap.apply(d);
        }, 100_000, 1_000_000, SyncCheckpointStore.NONE);
    }

    private static ByteBuffer pattern(int bytes, long seed) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes);
        Random r = new Random(seed);
        byte[] data = new byte[bytes];
        r.nextBytes(data);
        return b.put(data).flip();
    }

    private static void awaitIdle(MdArray array) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.syncProgress().action() == SyncEngine.Action.IDLE
                && array.snapshot().members().stream().noneMatch(m -> m.state() == MemberState.REBUILDING));
    }

    private static long check(MdArray array) throws Exception {
        return runCheck(array, false);
    }

    private static long runCheck(MdArray array, boolean repair) throws Exception {
        awaitIdle(array);
        long before = array.checksCompleted();
        array.requestCheck(repair);
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.checksCompleted() > before);
        awaitIdle(array);
        return array.mismatches();
    }

    private static byte[] memberData(Path member, long dataOffsetBytes, long offset, int length) throws Exception {
        try (FileChannel ch = FileChannel.open(member, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            ch.read(b, dataOffsetBytes + offset);
            return b.array();
        }
    }

    @Test
    void raid1_writesReachEveryMember_andReadBack() throws Exception {
        List<Path> paths = create(1, 2, 32 * MIB, true);
        MdArray array = start(paths, null);
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            writes.add(array.write(pattern(65536, i), i * 65536L * 3 % array.size(), false));
        }
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).join();
        array.flush().join();

        for (int i = 0; i < 64; i++) {
            long off = i * 65536L * 3 % array.size();
            ByteBuffer back = ByteBuffer.allocateDirect(65536);
            array.read(back, off).join();
            assertThat(back).isEqualTo(pattern(65536, i));
            long dataOffset = MemberMetadataReader.read(paths.get(0)).superblock().dataOffset() * 512;
            assertThat(memberData(paths.get(1), dataOffset, off, 65536))
                    .isEqualTo(memberData(paths.get(0), dataOffset, off, 65536));
        }
        assertThat(check(array)).isZero();
    }

    /** A member whose reads wait for {@code gate} and are counted: lets a test hold many reads in flight. */
    private static final class GatedReads extends ForwardingMemberDevice {
        private final CompletableFuture<Void> gate;
        private final AtomicInteger reads = new AtomicInteger();

        GatedReads(MemberDevice device, CompletableFuture<Void> gate) {
            super(device);
            this.gate = gate;
        }

        AtomicInteger reads() {
            return reads;
        }

        @Override public CompletableFuture<Void> read(ByteBuffer dst, long offset) {
            reads.incrementAndGet();
            return gate.thenCompose(v -> delegate.read(dst, offset));
        }
    }

    @Test
    void read_sequentialStreamIssuedBeforeAnyCompletes_staysOnOneMember() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<GatedReads> members = new ArrayList<>();
        CompletableFuture<Void> gate = new CompletableFuture<>();
        MdArray array = start(paths, null, d -> {
            GatedReads g = new GatedReads(d, gate);
            members.add(g);
            return g;
        });
        array.write(pattern(16 * 65536, 5), 0, true).join();
        members.forEach(m -> m.reads().set(0));

        // Eight 64 KiB reads of one sequential stream, all in flight at once (a client at QD8):
        // md's read_balance keeps them on the member the stream started on.
        List<CompletableFuture<Void>> reads = new ArrayList<>();
        List<ByteBuffer> buffers = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(65536);
            buffers.add(b);
            reads.add(array.read(b, i * 65536L));
        }
        gate.complete(null);
        CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();

        assertThat(members.stream().map(m -> m.reads().get()).sorted().toList()).containsExactly(0, 8);
        ByteBuffer all = pattern(16 * 65536, 5);
        for (int i = 0; i < 8; i++) {
            assertThat(buffers.get(i)).isEqualTo(all.slice(i * 65536, 65536));
        }
    }

    @Test
    void stop_requestInFlight_waitsForItThenRefusesNewOnes() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        CompletableFuture<Void> gate = new CompletableFuture<>();
        MdArray array = start(paths, null, d -> new GatedReads(d, gate));
        array.write(pattern(65536, 6), 0, true).join();
        ByteBuffer back = ByteBuffer.allocateDirect(65536);
        CompletableFuture<Void> read = array.read(back, 0);

        CompletableFuture<Void> stopped = CompletableFuture.runAsync(array::stop);
        await().during(300, TimeUnit.MILLISECONDS).atMost(5, TimeUnit.SECONDS).until(() -> !stopped.isDone());
        assertThatThrownBy(() -> array.write(pattern(4096, 1), 4096, false).join())
                .hasCauseInstanceOf(ArrayIoException.class)
                .cause().satisfies(e -> assertThat(((ArrayIoException) e).isStopping()).isTrue());

        gate.complete(null);
        stopped.get(30, TimeUnit.SECONDS);
        read.get(1, TimeUnit.SECONDS);
        assertThat(back).isEqualTo(pattern(65536, 6));
        assertThat(MemberMetadataReader.read(paths.get(0)).superblock().resyncOffset())
                .as("stopped clean").isEqualTo(MdSuperblock.MAX_SECTOR);
    }

    @Test
    void raid10_threeMembers_dataRoundTripsAndChecksClean() throws Exception {
        List<Path> paths = create(10, 3, 32 * MIB, false);
        MdArray array = start(paths, null);
        awaitIdle(array); // initial resync of a new array
        Random r = new Random(3);
        for (int i = 0; i < 50; i++) {
            long off = (r.nextLong(array.size() / 4096 - 64)) * 4096;
            int len = (1 + r.nextInt(64)) * 4096;
            array.write(pattern(len, i), off, i % 5 == 0).join();
            ByteBuffer back = ByteBuffer.allocateDirect(len);
            array.read(back, off).join();
            assertThat(back).isEqualTo(pattern(len, i));
        }
        assertThat(check(array)).isZero();
    }

    @Test
    void write_memberFails_markedFaultyBeforeAck_andDataSurvives() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        MdArray array = start(paths, faults);
        long eventsBefore = MemberMetadataReader.read(paths.get(0)).superblock().events();

        faults.get(1).setPlan(FaultPlan.failWrites());
        array.write(pattern(8192, 1), 4096, false).join();

        // When the write is acknowledged, the survivor's superblock already records the failure.
        MdSuperblock survivor = MemberMetadataReader.read(paths.get(0)).superblock();
        assertThat(survivor.devRole(1)).isEqualTo(MdSuperblock.ROLE_FAULTY);
        assertThat(survivor.events()).isGreaterThan(eventsBefore);
        assertThat(array.degraded()).isTrue();
        ByteBuffer back = ByteBuffer.allocateDirect(8192);
        array.read(back, 4096).join();
        assertThat(back).isEqualTo(pattern(8192, 1));
    }

    @Test
    void write_everyMemberFails_reportsErrorButKeepsTheLastMember() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        MdArray array = start(paths, faults);
        faults.forEach(f -> f.setPlan(FaultPlan.failWrites()));

        assertThatThrownBy(() -> array.write(pattern(4096, 1), 0, false).join())
                .hasCauseInstanceOf(ArrayIoException.class);
        assertThat(array.snapshot().members()).filteredOn(m -> m.state() == MemberState.IN_SYNC).hasSize(1);
    }

    @Test
    void read_errorOnOneMember_retriedElsewhereAndRewritten() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        MdArray array = start(paths, faults);
        array.write(pattern(4096, 9), 0, true).join();

        faults.get(0).setPlan(FaultPlan.failReads());
        faults.get(1).setPlan(FaultPlan.failReads());
        faults.get(1).setPlan(FaultPlan.healthy());
        for (int i = 0; i < 4; i++) { // whichever member the balancer picks, every read succeeds
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            array.read(back, 0).join();
            assertThat(back).isEqualTo(pattern(4096, 9));
        }
        assertThat(array.degraded()).isFalse();
    }

    @Test
    void check_countsMismatches_andRepairFixesThem() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        MdArray array = start(paths, null);
        array.write(pattern(16384, 5), 65536, true).join();
        long dataOffset = MemberMetadataReader.read(paths.get(1)).superblock().dataOffset() * 512;
        try (FileChannel ch = FileChannel.open(paths.get(1), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), dataOffset + 65536 + 5000);
        }

        // md counts the whole 64 KiB sync request the difference is in: 128 sectors (as the kernel
        // does for the same three bytes), and three bytes in each of two requests count twice that.
        assertThat(check(array)).isEqualTo(128);
        assertThat(runCheck(array, true)).isEqualTo(128);
        assertThat(check(array)).isZero();
        try (FileChannel ch = FileChannel.open(paths.get(1), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), dataOffset + 65536 - 2);   // across 64K
        }
        assertThat(check(array)).isEqualTo(256);
        assertThat(runCheck(array, true)).isEqualTo(256);
        assertThat(check(array)).isZero();
    }

    @Test
    void add_afterFailAndRemove_recoversTheNewMemberFully() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        MdArray array = start(paths, null);
        for (int i = 0; i < 14; i++) {
            array.write(pattern(65536, 100 + i), i * MIB, false).join();
        }
        assertThatThrownBy(() -> array.write(pattern(65536, 1), array.size() - 4096, false).join())
                .hasMessageContaining("beyond the end");
        assertThat(array.degraded()).isFalse();
        array.failMember(paths.get(1).toString()).join();
        array.removeMember(paths.get(1).toString()).join();
        Path fresh = MemberFiles.sparse(dir, "new", 1, 16 * MIB).get(0);

        array.addMember(MemberDevices.open(fresh, true, io), null, false).join();
        awaitIdle(array);

        assertThat(array.degraded()).isFalse();
        assertThat(check(array)).isZero();
        MemberMetadata added = MemberMetadataReader.read(fresh);
        assertThat(added.valid()).as(added.firstProblem()).isTrue();
        assertThat(added.superblock().devRole(added.superblock().devNumber())).isEqualTo(1);
        long dataOffset = added.superblock().dataOffset() * 512;
        assertThat(memberData(fresh, dataOffset, 3 * MIB, 65536)).isEqualTo(memberData(paths.get(0), dataOffset,
                3 * MIB, 65536));
    }

    @Test
    void uncleanStop_withoutBitmap_resyncsEverythingAndMembersAgree() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        MdArray array = start(paths, faults);
        array.write(pattern(65536, 1), 0, true).join();
        // A "crash": member 1 misses a write, and the process never stops the array cleanly.
        faults.get(1).setPlan(FaultPlan.gone());
        fixture.forget(array);
        faults.forEach(FaultInjectingMemberDevice::close);
        long dataOffset = MemberMetadataReader.read(paths.get(0)).superblock().dataOffset() * 512;
        try (FileChannel ch = FileChannel.open(paths.get(0), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[4096]), dataOffset + 8 * MIB);
        }
        assertThat(MemberMetadataReader.read(paths.get(0)).superblock().resyncOffset())
                .isNotEqualTo(MdSuperblock.MAX_SECTOR);

        MdArray again = start(paths, null);
        awaitIdle(again);
        assertThat(check(again)).isZero();
        again.stop();
        fixture.forget(again);
        assertThat(MemberMetadataReader.read(paths.get(1)).superblock().resyncOffset())
                .isEqualTo(MdSuperblock.MAX_SECTOR);
    }

    /**
     * A member that records the data writes issued to it (the fill byte of each, as the writes below
     * fill their buffers with one byte) and, while {@link #hold} is set, keeps them from the disk
     * until {@link #release}. Superblock writes (below the data offset) pass.
     */
    private static final class HeldWrites extends ForwardingMemberDevice {
        private final long dataOffset;
        private final List<Byte> issued = new ArrayList<>();     // guarded by this
        private final List<Runnable> held = new ArrayList<>();   // guarded by this
        private boolean hold;                                    // guarded by this

        HeldWrites(MemberDevice device, long dataOffset) {
            super(device);
            this.dataOffset = dataOffset;
        }

        synchronized void hold() {
            hold = true;
        }

        /** Lets the held writes go and stops holding. */
        void release() {
            List<Runnable> go;
            synchronized (this) {
                hold = false;
                go = new ArrayList<>(held);
                held.clear();
            }
            go.forEach(Runnable::run);
        }

        synchronized List<Byte> issued() {
            return List.copyOf(issued);
        }

        @Override public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
            if (offset < dataOffset) {
                return delegate.write(src, offset, fua);
            }
            synchronized (this) {
                issued.add(src.get(src.position()));
                if (hold) {
                    CompletableFuture<Void> done = new CompletableFuture<>();
                    held.add(() -> delegate.write(src, offset, fua).whenComplete((v, e) -> {
                        if (e != null) {
                            done.completeExceptionally(e);
                        } else {
                            done.complete(null);
                        }
                    }));
                    return done;
                }
            }
            return delegate.write(src, offset, fua);
        }
    }

    private static ByteBuffer filled(int bytes, int fill) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes);
        while (b.hasRemaining()) {
            b.put((byte) fill);
        }
        return b.flip();
    }

    private MdArray startHeld(List<Path> paths, List<FaultInjectingMemberDevice> faults, List<HeldWrites> held)
            throws Exception {
        long dataOffset = MemberMetadataReader.read(paths.get(0)).superblock().dataOffset() * 512;
        return start(paths, faults, d -> {
            HeldWrites h = new HeldWrites(d, dataOffset);
            held.add(h);
            return h;
        });
    }

    /** Waits until every member in {@code held} that takes a copy of {@code fill} has been issued it. */
    private static void awaitIssued(List<HeldWrites> held, int fill, int members) {
        await("write " + fill + " issued to " + members + " members").atMost(10, TimeUnit.SECONDS).until(() -> held.stream()
                .filter(h -> h.issued().contains((byte) fill)).count() >= members);
    }

    private static void assertNeverIssued(List<HeldWrites> held, int fill) {
        await("no member is issued write " + fill + " yet").during(300, TimeUnit.MILLISECONDS)
                .atMost(5, TimeUnit.SECONDS).until(() -> held.stream().noneMatch(h -> h.issued().contains((byte) fill)));
    }

    /** On every member: every write of {@code first} was issued before any of {@code second}. */
    private static void assertIssuedInOrder(List<HeldWrites> held, int first, int second) {
        for (HeldWrites h : held) {
            List<Byte> issued = h.issued();
            int lastFirst = issued.lastIndexOf((byte) first);
            int firstSecond = issued.indexOf((byte) second);
            if (firstSecond >= 0) {
                assertThat(lastFirst).as("%s: %s", h.name(), issued).isLessThan(firstSecond);
            }
        }
    }

    /** An array whose member writes are held: {@code first} issued to its members, {@code second} overlapping it. */
    private record HeldPair(MdArray array, List<HeldWrites> held, CompletableFuture<Void> first,
                            CompletableFuture<Void> second) {
    }

    /**
     * Starts the array on {@code paths} with member writes held, writes {@code firstBytes} of byte
     * {@code firstFill} at {@code firstOffset} and waits until its {@code copies} member writes are
     * issued, then writes {@code secondBytes} of {@code secondFill} at {@code secondOffset}, which
     * overlaps it: that one must reach no member yet.
     */
    private HeldPair secondBehindFirst(List<Path> paths, List<FaultInjectingMemberDevice> faults, int copies,
            int firstFill, int firstBytes, long firstOffset, int secondFill, int secondBytes, long secondOffset)
            throws Exception {
        List<HeldWrites> held = new ArrayList<>();
        MdArray array = startHeld(paths, faults, held);
        awaitIdle(array);
        held.forEach(HeldWrites::hold);
        CompletableFuture<Void> first = array.write(filled(firstBytes, firstFill), firstOffset, false);
        awaitIssued(held, firstFill, copies);
        CompletableFuture<Void> second = array.write(filled(secondBytes, secondFill), secondOffset, false);
        return new HeldPair(array, held, first, second);
    }

    /** Lets the held writes go; both complete, every member got {@code first} before {@code second}, a check is clean. */
    private static void releaseThenAssertOrderedAndClean(MdArray array, List<HeldWrites> held,
            CompletableFuture<Void> first, CompletableFuture<Void> second, int firstFill, int secondFill)
            throws Exception {
        held.forEach(HeldWrites::release);
        CompletableFuture.allOf(first, second).get(10, TimeUnit.SECONDS);
        assertIssuedInOrder(held, firstFill, secondFill);
        assertThat(check(array)).isZero();
    }

    @Test
    void write_overlappingAnEarlierOneInFlight_startsOnlyAfterItCompletes() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        HeldPair pair = secondBehindFirst(paths, null, 2, 1, 12288, 0, 2, 4096, 8192);
        MdArray array = pair.array();
        List<HeldWrites> held = pair.held();
        CompletableFuture<Void> elsewhere = array.write(filled(4096, 12), MIB, false);
        ByteBuffer back = ByteBuffer.allocateDirect(12288);
        // Reads are not held back, and a write that overlaps nothing in flight goes straight to the members.
        array.read(back, 0).get(5, TimeUnit.SECONDS);
        awaitIssued(held, 12, 2);
        assertNeverIssued(held, 2);
        assertThat(pair.first()).isNotDone();

        held.forEach(HeldWrites::release);
        CompletableFuture.allOf(pair.first(), pair.second(), elsewhere).get(10, TimeUnit.SECONDS);
        assertIssuedInOrder(held, 1, 2);
        ByteBuffer expected = ByteBuffer.allocateDirect(12288).put(filled(8192, 1)).put(filled(4096, 2)).flip();
        long dataOffset = MemberMetadataReader.read(paths.get(0)).superblock().dataOffset() * 512;
        for (Path p : paths) {
            assertThat(memberData(p, dataOffset, 0, 12288)).isEqualTo(memberData(paths.get(0), dataOffset, 0, 12288));
        }
        array.read(back.clear(), 0).join();
        assertThat(back).isEqualTo(expected);
    }

    @Test
    void raid10_overlappingWritesAcrossAChunkBoundary_reachEveryCopyInArrivalOrder() throws Exception {
        List<Path> paths = create(10, 3, 32 * MIB, false);
        // 56K..68K crosses the 64K chunk boundary: two pieces on different member pairs (three members).
        HeldPair pair = secondBehindFirst(paths, null, 3, 3, 12288, 56 * 1024, 4, 8192, 64 * 1024);
        assertNeverIssued(pair.held(), 4);

        releaseThenAssertOrderedAndClean(pair.array(), pair.held(), pair.first(), pair.second(), 3, 4);
    }

    @Test
    void write_memberFailsDuringTheEarlierWrite_theNextOverlappingOneStillRuns() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        HeldPair pair = secondBehindFirst(paths, faults, 2, 5, 4096, 0, 6, 4096, 0);
        assertNeverIssued(pair.held(), 6);
        faults.get(1).setPlan(FaultPlan.failWrites());
        pair.held().forEach(HeldWrites::release);

        pair.first().get(10, TimeUnit.SECONDS);
        pair.second().get(10, TimeUnit.SECONDS);
        assertThat(pair.array().degraded()).isTrue();
        assertIssuedInOrder(pair.held(), 5, 6);
        ByteBuffer back = ByteBuffer.allocateDirect(4096);
        pair.array().read(back, 0).join();
        assertThat(back).isEqualTo(filled(4096, 6));
    }

    @Test
    void write_meetingAResyncWindow_waitsThereAndOverlappingOnesKeepTheirOrder() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        List<HeldWrites> held = new ArrayList<>();
        MdArray array = startHeld(paths, null, held);
        array.barrier().raise(0, 65536).get(5, TimeUnit.SECONDS);

        CompletableFuture<Void> first = array.write(filled(4096, 7), 4096, false);
        CompletableFuture<Void> second = array.write(filled(8192, 8), 0, false);
        array.write(filled(4096, 9), MIB, false).get(5, TimeUnit.SECONDS); // outside the window: not held
        assertNeverIssued(held, 7);
        held.forEach(HeldWrites::hold);
        array.barrier().lower();

        awaitIssued(held, 7, 2);
        assertNeverIssued(held, 8);
        releaseThenAssertOrderedAndClean(array, held, first, second, 7, 8);
    }

    @Test
    void stop_withOverlappingWritesQueued_drainsThemInOrder() throws Exception {
        List<Path> paths = create(1, 2, 16 * MIB, true);
        HeldPair pair = secondBehindFirst(paths, null, 2, 10, 8192, 0, 11, 4096, 4096);
        List<HeldWrites> held = pair.held();

        // The stop waits for them, within its drain bound (MdArray.STOP_DRAIN_MILLIS): release them
        // well inside it, or the stop rightly gives up on them.
        CompletableFuture<Void> stopped = CompletableFuture.runAsync(pair.array()::stop);
        await().during(100, TimeUnit.MILLISECONDS).atMost(5, TimeUnit.SECONDS).until(() -> !stopped.isDone());
        assertNeverIssued(held, 11);
        held.forEach(HeldWrites::release);
        stopped.get(30, TimeUnit.SECONDS);
        pair.first().get(1, TimeUnit.SECONDS);
        pair.second().get(1, TimeUnit.SECONDS);

        assertIssuedInOrder(held, 10, 11);
        long dataOffset = MemberMetadataReader.read(paths.get(0)).superblock().dataOffset() * 512;
        byte[] expected = new byte[8192];
        Arrays.fill(expected, 0, 4096, (byte) 10);
        Arrays.fill(expected, 4096, 8192, (byte) 11);
        for (Path p : paths) {
            assertThat(memberData(p, dataOffset, 0, 8192)).isEqualTo(expected);
        }
        assertThat(MemberMetadataReader.read(paths.get(0)).superblock().resyncOffset())
                .as("stopped clean").isEqualTo(MdSuperblock.MAX_SECTOR);
    }
}
