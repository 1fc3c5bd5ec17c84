package io.clustermd.md;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Codec tests for mdp_superblock_1: round trips, checksum rule, and the kernel's validation. */
class MdSuperblockCodecTest {

    static MdSuperblock sample(int maxDev, long seed) {
        Random r = new Random(seed);
        byte[] uuid = new byte[16];
        r.nextBytes(uuid);
        byte[] dev = new byte[16];
        r.nextBytes(dev);
        int[] roles = new int[maxDev];
        for (int i = 0; i < maxDev; i++) {
            roles[i] = r.nextInt(0x10000);
        }
        return new MdSuperblock().setUuid(uuid).deviceUuid(dev).name("host:arr" + r.nextInt(1000))
                .ctime(r.nextInt()).utime(r.nextInt()).level(r.nextBoolean() ? 1 : 10).layout(r.nextInt())
                .size(r.nextLong() >>> 20).chunkSize(r.nextInt()).raidDisks(r.nextInt(8) + 1)
                .bitmapOffset(r.nextInt()).dataOffset(r.nextLong() >>> 30).dataSize(r.nextLong() >>> 30)
                .superOffset(8).recoveryOffset(r.nextLong()).devNumber(r.nextInt(maxDev + 1))
                .events(r.nextLong()).resyncOffset(r.nextLong()).featureMap(r.nextInt() & MdSuperblock.FEATURE_ALL)
                .devFlags(r.nextInt(4)).badBlockLog(r.nextInt(0x10000), r.nextInt()).devRoles(roles);
    }

    @Property(tries = 300)
    void encodeThenDecode_anySuperblock_roundTripsExactly(@ForAll @IntRange(min = 0, max = 1920) int maxDev,
                                                           @ForAll long seed) {
        MdSuperblock sb = sample(maxDev, seed);
        byte[] first = MdSuperblockCodec.encode(sb);

        MdSuperblock decoded = MdSuperblockCodec.decode(first);
        byte[] second = MdSuperblockCodec.encode(decoded);

        assertThat(second).isEqualTo(first);
        assertThat(first.length % 512).isZero();
        assertThat(decoded.sbCsum()).isEqualTo(MdSuperblockCodec.checksum(first, maxDev));
    }

    @Test
    void checksum_oddMaxDev_addsTrailingSixteenBitWord() {
        byte[] raw = new byte[512];
        raw[220] = 1; // max_dev = 1 -> covered bytes 258
        raw[256] = 0x34;
        raw[257] = 0x12;
        assertThat(MdSuperblockCodec.checksum(raw, 1)).isEqualTo(1 + 0x1234);
    }

    @Test
    void checksum_carryOutOfThirtyTwoBits_isFoldedOnce() {
        byte[] raw = new byte[512];
        Arrays.fill(raw, 0, 16, (byte) 0xff); // four 0xffffffff words
        // sum = 4 * 0xffffffff = 0x3_fffffffc -> 0xfffffffc + 3 = 0xffffffff
        assertThat(MdSuperblockCodec.checksum(raw, 0)).isEqualTo(0xffffffff);
    }

    private static byte[] validImage(MdSuperblock sb) {
        return MdSuperblockCodec.encode(sb);
    }

    private static MdSuperblock valid() {
        int[] roles = new int[128];
        Arrays.fill(roles, MdSuperblock.ROLE_SPARE);
        roles[0] = 0;
        roles[1] = 1;
        return new MdSuperblock().name("h:a").level(1).raidDisks(2).size(2000).dataOffset(2048).dataSize(2000)
                .superOffset(8).devRoles(roles);
    }

    @Test
    void validate_wellFormed_passes() throws Exception {
        MdSuperblock sb = valid();
        byte[] raw = validImage(sb);
        MdSuperblockCodec.validate(MdSuperblockCodec.decode(raw), raw, 8, 4096L * 1024, "/dev/x");
    }

    @Test
    void validate_eachBrokenField_namesDeviceFieldFoundAndExpected() {
        assertRejected(valid().level(1), b -> b[0] = 0, "magic", "expected 0xa92b4efc");
        assertRejected(valid(), b -> b[4] = 2, "major_version is 2", "expected 1");
        assertRejected(valid(), b -> { b[220] = (byte) 0xa0; b[221] = 0x0f; }, "max_dev is 4000",
                "at most 1920");
        assertRejected(valid().superOffset(0), null, "super_offset is 0 sectors", "read at sector 8");
        assertRejected(valid().featureMap(0x10000), null, "unknown bits 0x10000", "feature_map");
        assertRejected(valid(), b -> b[300] ^= 1, "checksum", "expected");
        assertRejected(valid().dataSize(5), null, "data_size is 5", "at least 10");
        assertRejected(valid().dataOffset(8), null, "data_offset is 8", "overlap");
        assertRejected(valid().dataSize(1L << 40), null, "truncated", "data area ends");
    }

    interface Corruption {
        void apply(byte[] raw);
    }

    private static void assertRejected(MdSuperblock sb, Corruption corruption, String... fragments) {
        byte[] raw = MdSuperblockCodec.encode(sb);
        if (corruption != null) {
            corruption.apply(raw);
        }
        assertThatThrownBy(() -> MdSuperblockCodec.validate(MdSuperblockCodec.decode(raw), raw, 8,
                4096L * 1024, "/dev/x"))
                .isInstanceOf(MdFormatException.class)
                .hasMessageStartingWith("/dev/x: ")
                .hasMessageContainingAll(fragments);
    }
}
