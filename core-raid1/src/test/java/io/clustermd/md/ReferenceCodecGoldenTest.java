package io.clustermd.md;

import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.bitmap.BitmapSuperblockCodec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/** Golden tests: superblocks and bitmaps written by the real kernel decode and re-encode byte for byte. */
class ReferenceCodecGoldenTest {

    static final java.util.List<String> MEMBERS = ReferenceMembers.ALL;

    @ParameterizedTest
    @FieldSource("MEMBERS")
    void superblock_decodeThenEncode_reproducesKernelBytes(String member) throws Exception {
        byte[] image = ReferenceMembers.bytes(member);
        byte[] raw = Arrays.copyOfRange(image, 4096, 8192);
        MdSuperblock sb = MdSuperblockCodec.decode(raw);
        MdSuperblockCodec.validate(sb, raw, 8, image.length, member);

        byte[] encoded = MdSuperblockCodec.encode(sb.copy());

        assertThat(encoded).hasSize(512);
        assertThat(encoded).isEqualTo(Arrays.copyOfRange(raw, 0, 512));
        assertThat(MdSuperblockCodec.checksum(raw, sb.maxDev())).isEqualTo(sb.sbCsum());
    }

    @ParameterizedTest
    @FieldSource("MEMBERS")
    void bitmapSlots_decodeThenEncode_reproduceKernelBytes(String member) {
        byte[] image = ReferenceMembers.bytes(member);
        MdSuperblock sb = MdSuperblockCodec.decode(Arrays.copyOfRange(image, 4096, 8192));
        int slot0 = (int) ((sb.superOffset() + sb.bitmapOffset()) * 512);
        BitmapSuperblock first = BitmapSuperblockCodec.decode(ByteBuffer.wrap(image, slot0, 256));
        int slots = first.clustered() ? first.nodes() : 1;
        long slotBytes = BitmapGeometry.slotBytes(first.chunks());
        for (int i = 0; i < slots; i++) {
            int at = (int) (slot0 + i * slotBytes);
            BitmapSuperblock slot = BitmapSuperblockCodec.decode(ByteBuffer.wrap(image, at, 256));
            assertThat(BitmapSuperblockCodec.encode(slot)).isEqualTo(Arrays.copyOfRange(image, at, at + 256));
            assertThat(slot.uuid()).isEqualTo(sb.setUuid());
        }
    }

    @Test
    void clusteredReference_fields_matchWhatMdadmReported() {
        byte[] image = ReferenceMembers.bytes("m2-a");
        MdSuperblock sb = MdSuperblockCodec.decode(Arrays.copyOfRange(image, 4096, 8192));

        assertThat(sb.featureMap()).isEqualTo(0x101);
        assertThat(MdSuperblock.mdadmUuid(sb.setUuid())).isEqualTo("f54b230b:08fda922:8513ad8c:73a17a57");
        assertThat(sb.name()).isEqualTo("node1:m2");
        assertThat(sb.level()).isEqualTo(1);
        assertThat(sb.raidDisks()).isEqualTo(2);
        assertThat(sb.size()).isEqualTo(129024);
        assertThat(sb.dataOffset()).isEqualTo(2048);
        assertThat(sb.dataSize()).isEqualTo(129024);
        assertThat(sb.bitmapOffset()).isEqualTo(8);
        assertThat(sb.events()).isEqualTo(19);
        assertThat(sb.resyncOffset()).isZero();
        assertThat(sb.maxDev()).isEqualTo(128);
        assertThat(sb.sbCsum()).isEqualTo(0x99fa77c9);
        assertThat(sb.devRole(0)).isZero();
        assertThat(sb.devRole(1)).isEqualTo(1);
        assertThat(sb.devRole(2)).isEqualTo(MdSuperblock.ROLE_SPARE);
        assertThat(sb.bblogSize()).isZero();

        BitmapSuperblock bm = BitmapSuperblockCodec.decode(ByteBuffer.wrap(image, 8192, 256));
        assertThat(bm.version()).isEqualTo(5);
        assertThat(bm.nodes()).isEqualTo(4);
        assertThat(bm.clusterName()).isEqualTo("labclu");
        assertThat(bm.chunkSize()).isEqualTo(64 << 20);
        assertThat(bm.syncSize()).isEqualTo(129024);
        assertThat(bm.events()).isEqualTo(19);
        assertThat(bm.eventsCleared()).isEqualTo(19);
    }

    @Test
    void internalReference_hasBadBlockLogAfterTheBitmap() {
        MdSuperblock sb = MdSuperblockCodec.decode(Arrays.copyOfRange(ReferenceMembers.bytes("m1-a"), 4096, 8192));

        assertThat(sb.featureMap()).isEqualTo(0x1);
        assertThat(sb.bblogSize()).isEqualTo(8);
        assertThat(sb.bblogOffset()).isEqualTo(16);
        assertThat(sb.name()).isEqualTo("labhost:m1");
    }
}
