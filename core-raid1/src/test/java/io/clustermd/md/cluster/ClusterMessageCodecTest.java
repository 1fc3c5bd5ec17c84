package io.clustermd.md.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ClusterMessageCodecTest {

    private static final HexFormat HEX = HexFormat.of();

    @Test
    void encode_resyncing_putsEachFieldAtItsOffsetLittleEndian() {
        byte[] lvb = ClusterMessageCodec.encode(new ClusterMessage(MessageType.RESYNCING, 3, 0x0102,
                0x1122334455667788L, 0x0a0b0c0d0e0f1011L, null, 0x77));
        assertThat(HEX.formatHex(lvb)).isEqualTo(
                "01" + "03" + "0201"                 // type, slot, raid_slot le16
                + "8877665544332211"                   // low le64 at 4
                + "11100f0e0d0c0b0a"                   // high le64 at 12
                + "7700000000000000"                   // sequence le64 at 20
                + "00000000");                         // reserved
    }

    @Test
    void encode_newDisk_putsTheDeviceUuidInPlaceOfTheRange() {
        byte[] uuid = HEX.parseHex("00112233445566778899aabbccddeeff");
        byte[] lvb = ClusterMessageCodec.encode(new ClusterMessage(MessageType.NEWDISK, 1, 5, 0, 0, uuid, 2));
        assertThat(HEX.formatHex(lvb, 0, 20)).isEqualTo("02010500" + "00112233445566778899aabbccddeeff");
        assertThat(ClusterMessageCodec.decode(lvb).deviceUuid()).isEqualTo(uuid);
    }

    @Test
    void decode_ofEncode_isTheSameMessage_forEveryType() {
        Random random = new Random(7);
        for (MessageType type : MessageType.values()) {
            for (int i = 0; i < 50; i++) {
                byte[] uuid = null;
                long low = 0;
                long high = 0;
                if (type.carriesDeviceUuid()) {
                    uuid = new byte[16];
                    random.nextBytes(uuid);
                } else {
                    low = random.nextLong() & Long.MAX_VALUE;
                    high = random.nextLong() & Long.MAX_VALUE;
                }
                ClusterMessage m = new ClusterMessage(type, random.nextInt(256), random.nextInt(65536), low, high,
                        uuid, random.nextLong());
                assertThat(ClusterMessageCodec.decode(ClusterMessageCodec.encode(m))).isEqualTo(m);
            }
        }
    }

    @Test
    void decode_unknownTypeOrReservedBytesOrWrongLength_isRefusedWithTheReason() {
        byte[] lvb = ClusterMessageCodec.encode(ClusterMessage.of(MessageType.REMOVE, 0, 1, 1));
        byte[] unknown = lvb.clone();
        unknown[0] = 9;
        assertThatThrownBy(() -> ClusterMessageCodec.decode(unknown)).hasMessageContaining("unknown cluster message type 9");
        byte[] reserved = lvb.clone();
        reserved[31] = 1;
        assertThatThrownBy(() -> ClusterMessageCodec.decode(reserved)).hasMessageContaining("reserved bytes");
        assertThatThrownBy(() -> ClusterMessageCodec.decode(new byte[20])).hasMessageContaining("32 bytes");
    }

    @Test
    void messageTypes_keepMdsNumbers() {
        assertThat(MessageType.METADATA_UPDATED.code()).isZero();
        assertThat(MessageType.BITMAP_NEEDS_SYNC.code()).isEqualTo(5);
        assertThat(MessageType.RESYNCING_START.code()).isEqualTo(8);
        for (MessageType t : MessageType.values()) {
            assertThat(MessageType.ofCode(t.code())).isSameAs(t);
        }
    }

    @Test
    void resyncInfo_roundTrips_andAnAbsentLvbMeansNoWindow() {
        ResyncInfoCodec.Window w = new ResyncInfoCodec.Window(65536, 131072);
        byte[] lvb = ResyncInfoCodec.encode(w);
        assertThat(HEX.formatHex(lvb, 0, 16)).isEqualTo("0000010000000000" + "0000020000000000");
        assertThat(ResyncInfoCodec.decode(lvb)).isEqualTo(w);
        assertThat(ResyncInfoCodec.decode(null).active()).isFalse();
        assertThat(ResyncInfoCodec.decode(new byte[32]).active()).isFalse();
    }

    @Test
    void lockNames_followMdWithOurLockspacePrefix() {
        byte[] uuid = HEX.parseHex("dcc8a6addd89ab010add4c96c526a81a");
        assertThat(ClusterLocks.lockspaceName(uuid)).isEqualTo("cmd-dcc8a6ad-dd89-ab01-0add-4c96c526a81a");
        assertThat(ClusterLocks.bitmap(0)).isEqualTo("bitmap0000");
        assertThat(ClusterLocks.bitmap(31)).isEqualTo("bitmap0031");
    }
}
