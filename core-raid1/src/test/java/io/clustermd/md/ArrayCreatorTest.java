package io.clustermd.md;

import io.clustermd.bitmap.BitmapSuperblock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Unit tests of create: mdadm's defaults, and refusals that leave every member untouched. */
class ArrayCreatorTest {

    static final long MIB = 1L << 20;
    static final Instant NOW = Instant.parse("2026-11-21T14:49:04Z");

    @TempDir
    Path dir;

    private static ArrayCreator creator() {
        return new ArrayCreator(InstantSource.fixed(NOW), new Random(42));
    }

    private static CreateOptions options(int level, int devices, BitmapKind bitmap, List<Path> members) {
        return new CreateOptions(level, level == 10 ? Raid10Layout.parse("n2") : 0, level == 10 ? 512 : 0, devices,
                bitmap, 4, "labclu", "m2", "node1", 0, 0, 0, 5, false, false, members);
    }

    @Test
    void create_clusteredRaid1On64MiB_matchesWhatMdadmWrote() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 64 * MIB);

        CreatedArray created = creator().create(options(1, 2, BitmapKind.CLUSTERED, members));

        MemberMetadata m = MemberMetadataReader.read(members.get(0));
        assertThat(m.valid()).as(m.firstProblem()).isTrue();
        MdSuperblock sb = m.superblock();
        assertThat(sb.featureMap()).isEqualTo(0x101);
        assertThat(sb.dataOffset()).isEqualTo(2048);
        assertThat(sb.dataSize()).isEqualTo(129024);
        assertThat(sb.size()).isEqualTo(129024);
        assertThat(sb.name()).isEqualTo("node1:m2");
        assertThat(sb.maxDev()).isEqualTo(128);
        assertThat(sb.bblogSize()).isZero();
        assertThat(sb.resyncOffset()).isZero();
        assertThat(sb.ctime()).isEqualTo(NOW.getEpochSecond());
        assertThat(m.slots()).hasSize(4);
        assertThat(m.slots().get(0).dirty()).isEqualTo(1);
        assertThat(m.slots().subList(1, 4)).allMatch(s -> s.dirty() == 0);
        assertThat(m.slots()).allMatch(s -> s.superblock().equals(m.slots().get(0).superblock()));
        BitmapSuperblock bm = m.bitmap();
        assertThat(bm.chunkSize()).isEqualTo(64 << 20);
        assertThat(bm.clusterName()).isEqualTo("labclu");
        assertThat(created.arraySectors()).isEqualTo(129024);
        assertThat(MemberMetadataReader.read(members.get(1)).superblock().devNumber()).isEqualTo(1);
    }

    @Test
    void create_assumeClean_leavesEverySlotClean() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 64 * MIB);
        CreateOptions o = options(1, 2, BitmapKind.CLUSTERED, members);
        o = new CreateOptions(o.level(), o.layout(), o.chunkKiB(), o.raidDevices(), o.bitmap(), o.nodes(),
                o.homeCluster(), o.name(), o.homehost(), 0, 0, 0, 5, true, false, members);

        creator().create(o);

        MemberMetadata m = MemberMetadataReader.read(members.get(0));
        assertThat(m.superblock().resyncOffset()).isEqualTo(MdSuperblock.MAX_SECTOR);
        assertThat(m.slots()).allMatch(s -> s.dirty() == 0);
    }

    @Test
    void create_raid10NearTwoOnThree_usesChunkRoundedSizeAndArrayBitmap() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 3, 100 * MIB);

        CreatedArray created = creator().create(options(10, 3, BitmapKind.INTERNAL, members));

        MdSuperblock sb = MemberMetadataReader.read(members.get(2)).superblock();
        assertThat(sb.layout()).isEqualTo(0x102);
        assertThat(sb.chunkSize()).isEqualTo(1024);
        assertThat(sb.size() % 1024).isZero();
        assertThat(created.arraySectors()).isEqualTo(sb.size() * 3 / 2);
        assertThat(MemberMetadataReader.read(members.get(2)).bitmap().syncSize()).isEqualTo(created.arraySectors());
        assertThat(sb.bblogSize()).isEqualTo(8);
    }

    @Test
    void create_refusals_writeNothing() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 3, 64 * MIB);
        List<Path> small = MemberFiles.sparse(dir, "small", 1, 6 * 1024);
        Path zero = Files.createFile(dir.resolve("zero.img"));

        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, List.of(members.get(0), members.get(0))),
                "given twice");
        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, List.of(members.get(0), small.get(0))),
                "too small");
        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, List.of(members.get(0), zero)), "is empty");
        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, List.of(members.get(0), dir.resolve("nope"))),
                "no such file");
        assertRefusedUntouched(options(1, 3, BitmapKind.CLUSTERED, members.subList(0, 2)), "enough devices");
        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, members), "more devices");
        CreateOptions manyNodes = new CreateOptions(1, 0, 0, 2, BitmapKind.CLUSTERED, 300, "c", "a", "h",
                4096, 0, 0, 5, false, false, members.subList(0, 2));
        assertRefusedUntouched(manyNodes, "does not fit", "--nodes");
        CreateOptions farLayout = new CreateOptions(10, Raid10Layout.parse("f2"), 512, 2, BitmapKind.CLUSTERED, 4,
                "c", "a", "h", 0, 0, 0, 5, false, false, members.subList(0, 2));
        assertRefusedUntouched(farLayout, "only near layout is supported by clustered raid10");
        CreateOptions noCluster = new CreateOptions(1, 0, 0, 2, BitmapKind.CLUSTERED, 4, null, "a", "h",
                0, 0, 0, 5, false, false, members.subList(0, 2));
        assertRefusedUntouched(noCluster, "--home-cluster");
    }

    @Test
    void create_memberOfAnotherArray_refusedUnlessForced() throws Exception {
        List<Path> first = MemberFiles.sparse(dir, "a", 2, 64 * MIB);
        creator().create(options(1, 2, BitmapKind.CLUSTERED, first));
        List<Path> fresh = MemberFiles.sparse(dir, "b", 1, 64 * MIB);
        List<Path> mixed = List.of(fresh.get(0), first.get(1));

        assertRefusedUntouched(options(1, 2, BitmapKind.CLUSTERED, mixed), "already carries an md 1.2 superblock",
                "--force");

        CreateOptions forced = new CreateOptions(1, 0, 0, 2, BitmapKind.INTERNAL, 4, null, "x", "h", 0, 0, 0, 5,
                false, true, mixed);
        creator().create(forced);
        assertThat(MemberMetadataReader.read(first.get(1)).superblock().name()).isEqualTo("h:x");
    }

    private void assertRefusedUntouched(CreateOptions o, String... fragments) {
        List<String> before = MemberFiles.fingerprints(o.members());
        assertThatThrownBy(() -> creator().create(o)).isInstanceOf(MdFormatException.class)
                .hasMessageContainingAll(fragments);
        assertThat(MemberFiles.fingerprints(o.members())).isEqualTo(before);
    }
}
