package io.clustermd.bitmap;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.StringLength;
import net.jqwik.api.constraints.AlphaChars;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Codec tests for bitmap_super_t. */
class BitmapSuperblockCodecTest {

    static BitmapSuperblock sample(long events, int nodes, String name) {
        byte[] uuid = new byte[16];
        for (int i = 0; i < 16; i++) {
            uuid[i] = (byte) (i * 7 + 1);
        }
        return new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, 5, uuid, events, events / 2, 129024, 0,
                64 << 20, 5, 0, 0, nodes, name);
    }

    @Property(tries = 200)
    void encodeThenDecode_roundTrips(@ForAll long events, @ForAll int nodes,
                                     @ForAll @AlphaChars @StringLength(max = 63) String name) {
        BitmapSuperblock sb = sample(events, nodes, name);
        byte[] bytes = BitmapSuperblockCodec.encode(sb);

        assertThat(bytes).hasSize(256);
        assertThat(BitmapSuperblockCodec.decode(ByteBuffer.wrap(bytes))).isEqualTo(sb);
    }

    @Test
    void encode_fieldOffsets_matchMdBitmapH() {
        byte[] b = BitmapSuperblockCodec.encode(sample(19, 4, "labclu"));
        ByteBuffer le = ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertThat(new String(b, 0, 4, java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("bitm");
        assertThat(le.getInt(4)).isEqualTo(5);
        assertThat(le.getLong(24)).isEqualTo(19);
        assertThat(le.getLong(40)).isEqualTo(129024);
        assertThat(le.getInt(52)).isEqualTo(64 << 20);
        assertThat(le.getInt(68)).isEqualTo(4);
        assertThat(new String(b, 72, 6, java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("labclu");
        assertThat(b[78]).isZero();
    }

    @Test
    void validate_rejectsWhatTheKernelRejects() {
        byte[] uuid = sample(0, 4, "c").uuid();
        assertInvalid(new BitmapSuperblock(0, 5, uuid, 0, 0, 1, 0, 4096, 5, 0, 0, 4, "c"), uuid, "magic");
        assertInvalid(new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, 6, uuid, 0, 0, 1, 0, 4096, 5, 0, 0,
                4, "c"), uuid, "version is 6");
        assertInvalid(new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, 5, uuid, 0, 0, 1, 0, 3000, 5, 0, 0,
                4, "c"), uuid, "chunksize is 3000");
        assertInvalid(new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, 5, uuid, 0, 0, 1, 0, 4096, 0, 0, 0,
                4, "c"), uuid, "daemon_sleep is 0");
        assertInvalid(new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, 5, uuid, 0, 0, 1, 0, 4096, 5, 20000,
                0, 4, "c"), uuid, "write_behind is 20000");
        assertInvalid(sample(0, 4, "c"), new byte[16], "uuid does not match");
    }

    private static void assertInvalid(BitmapSuperblock sb, byte[] arrayUuid, String fragment) {
        assertThatThrownBy(() -> BitmapSuperblockCodec.validate(sb, arrayUuid, "/dev/x: bitmap slot 0"))
                .isInstanceOf(BitmapFormatException.class)
                .hasMessageStartingWith("/dev/x: bitmap slot 0: ")
                .hasMessageContaining(fragment);
    }

    @Test
    void countDirty_ignoresBitsBeyondTheChunkCount() {
        ByteBuffer bits = ByteBuffer.wrap(new byte[] {(byte) 0xff, (byte) 0xff});
        assertThat(BitmapBits.countDirty(bits, 9)).isEqualTo(9);
        assertThat(BitmapBits.countDirty(bits, 16)).isEqualTo(16);
        assertThat(BitmapBits.countDirty(ByteBuffer.wrap(new byte[] {(byte) 0xfe}), 1)).isZero();
        assertThat(BitmapBits.isSet(ByteBuffer.wrap(new byte[] {0, 4}), 10)).isTrue();
    }
}
