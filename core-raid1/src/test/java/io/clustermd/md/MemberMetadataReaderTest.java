package io.clustermd.md;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Bad members: each gets its own clear error, and reading never changes a byte. */
class MemberMetadataReaderTest {

    @TempDir
    Path dir;

    private Path member() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 64L << 20);
        new ArrayCreator(InstantSource.fixed(Instant.EPOCH), new Random(1)).create(new CreateOptions(1, 0, 0, 2,
                BitmapKind.CLUSTERED, 4, "c", "a", "h", 0, 0, 0, 5, false, false, members));
        return members.get(0);
    }

    /** Rewrites one superblock field (and the checksum unless told not to). */
    private static void patch(Path p, int offset, long value, int width, boolean fixChecksum) throws Exception {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer sb = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(sb, 4096);
            switch (width) {
                case 4 -> sb.putInt(offset, (int) value);
                case 8 -> sb.putLong(offset, value);
                default -> throw new IllegalArgumentException();
            }
            if (fixChecksum) {
                int maxDev = Math.min(sb.getInt(220), 1920);
                sb.putInt(216, MdSuperblockCodec.checksum(sb.array(), maxDev));
            }
            ch.write(sb.flip(), 4096);
        }
    }

    private void assertProblem(Path p, String... fragments) throws Exception {
        String before = MemberFiles.fingerprint(p);
        MemberMetadata m = MemberMetadataReader.read(p);
        assertThat(m.valid()).isFalse();
        assertThat(m.firstProblem()).startsWith(p.toString()).contains(fragments);
        assertThat(MemberFiles.fingerprint(p)).isEqualTo(before);
    }

    @Test
    void read_zeroLengthFile_tooSmall() throws Exception {
        Path p = Files.createFile(dir.resolve("empty.img"));
        assertThatThrownBy(() -> MemberMetadataReader.read(p)).isInstanceOf(NoSuperblockException.class)
                .hasMessageContaining("too small for md");
        assertThat(Files.size(p)).isZero();
    }

    @Test
    void read_fileWithoutSuperblock_saysNoSuperblockAndShowsMagic() throws Exception {
        Path p = MemberFiles.sparse(dir, "plain", 1, 1 << 20).get(0);
        String before = MemberFiles.fingerprint(p);
        assertThatThrownBy(() -> MemberMetadataReader.read(p)).isInstanceOf(NoSuperblockException.class)
                .hasMessageContainingAll("no md superblock found", "expected 0xa92b4efc");
        assertThat(MemberFiles.fingerprint(p)).isEqualTo(before);
    }

    @Test
    void read_truncatedMember_saysDataAreaDoesNotFit() throws Exception {
        Path p = member();
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(32L << 20);
        }
        assertProblem(p, "truncated");
    }

    @Test
    void read_badChecksum_namesStoredAndExpected() throws Exception {
        Path p = member();
        patch(p, 216, 0x12345678, 4, false);
        assertProblem(p, "checksum is 12345678, expected");
    }

    @Test
    void read_unknownFeatureBits_named() throws Exception {
        Path p = member();
        patch(p, 8, 0x101 | 0x40000, 4, true);
        assertProblem(p, "unknown bits 0x40000");
    }

    @Test
    void read_absurdMaxDev_named() throws Exception {
        Path p = member();
        patch(p, 220, 100000, 4, false);
        assertProblem(p, "max_dev is 100000", "at most 1920");
    }

    @Test
    void read_dataOffsetOverlappingSuperblock_named() throws Exception {
        Path p = member();
        patch(p, 128, 8, 8, true);
        assertProblem(p, "data_offset is 8 sectors", "overlap");
    }

    @Test
    void read_corruptBitmapSlot_namesSlot() throws Exception {
        Path p = member();
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0, 0, 0, 0}), 8192 + 2 * 4096);
        }
        MemberMetadata m = MemberMetadataReader.read(p);
        assertThat(m.valid()).isFalse();
        assertThat(m.firstProblem()).contains("bitmap slot 2", "magic");
    }
}
