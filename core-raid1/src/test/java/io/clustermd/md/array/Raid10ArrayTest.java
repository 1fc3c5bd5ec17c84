package io.clustermd.md.array;

import io.clustermd.md.ArrayCreator;
import io.clustermd.md.BitmapKind;
import io.clustermd.md.CreateOptions;
import io.clustermd.md.MdFormatException;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.Raid10Layout;
import io.clustermd.md.io.FaultInjectingMemberDevice;
import io.clustermd.md.io.FaultPlan;
import io.clustermd.md.io.MemberDevices;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The array engine for every raid10 layout mdadm makes (near, far, offset; even and odd device
 * counts) on member files with O_DIRECT: data lands where md's mapping puts it, degraded operation
 * while one copy of every block survives, refusal of a failure or an assembly that would leave a
 * block without a copy, recovery of a new member, and check = 0 afterwards.
 */
class Raid10ArrayTest {

    static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private final ArrayFixture fixture = new ArrayFixture();

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    private List<Path> create(String layout, int devices, boolean clean) throws Exception {
        List<Path> paths = MemberFiles.sparse(dir, "m", devices, 12 * MIB + 68 * 1024);
        new ArrayCreator(InstantSource.fixed(Instant.EPOCH), new Random(7)).create(new CreateOptions(10,
                Raid10Layout.parse(layout), 64, devices, BitmapKind.NONE, 0, null, "t", "h", 0, 0, 0, 5, clean, false,
                paths));
        return paths;
    }

    private MdArray start(List<Path> paths, List<FaultInjectingMemberDevice> faults) throws Exception {
        return fixture.start(paths, (i, d) -> {
            if (faults == null) {
                return d;
            }
            FaultInjectingMemberDevice f = new FaultInjectingMemberDevice(d, fixture.io);
            faults.add(f);
            return f;
        }, 100_000, 1_000_000, SyncCheckpointStore.NONE);
    }

    private static ByteBuffer pattern(int bytes, long seed) {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        return ByteBuffer.allocateDirect(bytes).put(data).flip();
    }

    private static void awaitIdle(MdArray array) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.syncProgress().action() == SyncEngine.Action.IDLE
                && array.snapshot().members().stream().noneMatch(m -> m.state() == MemberState.REBUILDING));
    }

    private static long check(MdArray array) throws Exception {
        awaitIdle(array);
        long before = array.checksCompleted();
        array.requestCheck(false);
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.checksCompleted() > before);
        awaitIdle(array);
        return array.mismatches();
    }

    private static byte[] raw(Path member, long offset, int length) throws Exception {
        long dataOffset = MemberMetadataReader.read(member).superblock().dataOffset() * 512;
        ByteBuffer b = ByteBuffer.allocate(length);
        try (FileChannel ch = FileChannel.open(member, StandardOpenOption.READ)) {
            ch.read(b, dataOffset + offset);
        }
        return b.array();
    }

    /** Writes {@code count} random extents (some across chunk boundaries) and returns them for checking. */
    private static List<long[]> writeRandom(MdArray array, int count, long seed) {
        Random r = new Random(seed);
        List<long[]> written = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int len = (1 + r.nextInt(40)) * 4096;
            long off = r.nextLong(array.size() / 4096 - len / 4096) * 4096;
            array.write(pattern(len, seed * 1000 + i), off, i % 7 == 0).join();
            written.add(new long[] {off, len, seed * 1000 + i});
        }
        return written;
    }

    private static void readBack(MdArray array, List<long[]> written) {
        // Later writes may overwrite earlier ones: compare against the model of the whole array.
        byte[] model = new byte[(int) array.size()];
        boolean[] known = new boolean[model.length];
        for (long[] w : written) {
            ByteBuffer p = pattern((int) w[1], w[2]);
            p.get(model, (int) w[0], (int) w[1]);
            java.util.Arrays.fill(known, (int) w[0], (int) (w[0] + w[1]), true);
        }
        ByteBuffer all = ByteBuffer.allocateDirect(model.length);
        array.read(all, 0).join();
        for (int i = 0; i < model.length; i += 4096) {
            if (known[i]) {
                byte[] got = new byte[4096];
                all.get(i, got);
                assertThat(java.util.Arrays.equals(got, java.util.Arrays.copyOfRange(model, i, i + 4096)))
                        .as("array block %d reads back as written", i / 4096).isTrue();
            }
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"n2,2", "n2,3", "n2,4", "n3,3", "f2,2", "f2,3", "f2,4", "f3,3", "o2,2", "o2,3", "o2,4", "o3,4"})
    void write_everyLayout_landsWhereMdPutsItAndChecksClean(String layout, int devices) throws Exception {
        List<Path> paths = create(layout, devices, false);
        MdArray array = start(paths, null);
        awaitIdle(array);   // the initial resync, per stripe
        List<long[]> written = writeRandom(array, 40, 1);
        readBack(array, written);
        assertThat(check(array)).isZero();

        // Every copy of a write across chunk boundaries is on the member and at the offset md's mapping names.
        long at = array.size() / 2 + 65536 - 4096;
        int length = 3 * 65536 + 8192;
        array.write(pattern(length, 99), at, false).join();
        for (Personality.Piece piece : array.personality().map(at, length)) {
            byte[] expected = new byte[(int) piece.length()];
            pattern(length, 99).get((int) (piece.arrayOffset() - at), expected);
            for (Personality.Extent e : piece.copies()) {
                boolean same = java.util.Arrays.equals(raw(paths.get(e.slot()), e.memberOffset(), expected.length),
                        expected);
                assertThat(same).as("array bytes %d+%d on slot %d at %d", piece.arrayOffset(), piece.length(),
                        e.slot(), e.memberOffset()).isTrue();
            }
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"n2,4", "n2,3", "f2,3", "f2,4", "o2,3", "o2,4"})
    void memberFails_arrayRunsDegraded_newMemberIsRecovered(String layout, int devices) throws Exception {
        List<Path> paths = create(layout, devices, true);
        List<FaultInjectingMemberDevice> faults = new ArrayList<>();
        MdArray array = start(paths, faults);
        List<long[]> written = writeRandom(array, 20, 2);

        faults.get(1).setPlan(FaultPlan.failWrites());
        written.addAll(writeRandom(array, 20, 3));      // the failing writes take slot 1 out
        assertThat(array.degraded()).isTrue();
        assertThat(array.snapshot().members().get(1).state()).isEqualTo(MemberState.FAULTY);
        readBack(array, written);                       // every block still has a copy

        // Slot 1's neighbours hold the other copies of its blocks: md refuses to fail them.
        int neighbour = devices == 2 ? 0 : 2;
        if (Raid10Layout.check(Raid10Layout.parse(layout), devices) == null && !canLoseAlso(layout, devices, neighbour)) {
            assertThatThrownBy(() -> array.failMember(paths.get(neighbour).toString()))
                    .isInstanceOf(MdFormatException.class).hasMessageContaining("last in-sync copy");
        }

        array.removeMember(paths.get(1).toString()).join();
        Path fresh = MemberFiles.sparse(dir, "new", 1, 12 * MIB + 68 * 1024).get(0);
        array.addMember(MemberDevices.open(fresh, true, fixture.io), null, false).join();
        awaitIdle(array);
        assertThat(array.degraded()).isFalse();
        assertThat(check(array)).isZero();
        readBack(array, written);
        MemberMetadata added = MemberMetadataReader.read(fresh);
        assertThat(added.superblock().devRole(added.superblock().devNumber())).isEqualTo(1);
    }

    /** Whether md's enough() lets slots 1 and {@code other} both go. */
    private static boolean canLoseAlso(String layout, int devices, int other) {
        return new Raid10Personality(devices, Raid10Layout.parse(layout), 65536, 12 * MIB)
                .enough(s -> s != 1 && s != other);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"n2,4", "f2,4", "o2,3"})
    void assemble_withoutEveryCopyOfSomeBlock_isRefused(String layout, int devices) throws Exception {
        List<Path> paths = create(layout, devices, true);
        // Slots 0 and 1 hold both copies of chunk 0 in all these layouts.
        List<MemberMetadata> metadata = new ArrayList<>();
        for (Path p : paths.subList(2, devices)) {
            metadata.add(MemberMetadataReader.read(p));
        }
        assertThatThrownBy(() -> ArrayAssembler.plan(metadata)).isInstanceOf(MdFormatException.class)
                .hasMessageContaining("not enough operational mirrors").hasMessageContaining(layout);

        // One of each pair is enough for n2 on 4 devices (slots 0,1 and 2,3 hold the copies).
        if (layout.equals("n2")) {
            List<MemberMetadata> half = new ArrayList<>();
            half.add(MemberMetadataReader.read(paths.get(0)));
            half.add(MemberMetadataReader.read(paths.get(3)));
            assertThat(ArrayAssembler.plan(half).members()).hasSize(2);
        }
    }
}
