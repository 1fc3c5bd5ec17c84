package io.clustermd.md.cluster;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The bitmap lock's LVB: md's {@code struct resync_info} and clustermd's two flags after it. */
class ResyncInfoCodecTest {

    @Test
    void window_roundTrips_withTheTakenOverFlag() {
        ResyncInfoCodec.Window w = new ResyncInfoCodec.Window(2048, 4096);
        byte[] lvb = ResyncInfoCodec.encode(w, true);
        assertThat(ResyncInfoCodec.decode(lvb)).isEqualTo(w);
        assertThat(ResyncInfoCodec.holdsTakenOver(lvb)).isTrue();
        assertThat(ResyncInfoCodec.leftCleanly(lvb)).isFalse();
        assertThat(lvb[ResyncInfoCodec.HOLDS_TAKEN_OVER]).isEqualTo((byte) 1);
        // md's part is lo and hi, little-endian, at 0 and 8
        assertThat(lvb[0]).isEqualTo((byte) 0);
        assertThat(lvb[1]).isEqualTo((byte) 8);
        assertThat(lvb[9]).isEqualTo((byte) 16);
    }

    @Test
    void noFlag_byDefault_andNotForACleanLeave() {
        assertThat(ResyncInfoCodec.holdsTakenOver(ResyncInfoCodec.encode(ResyncInfoCodec.Window.NONE))).isFalse();
        assertThat(ResyncInfoCodec.holdsTakenOver(ResyncInfoCodec.encodeLeftCleanly())).isFalse();
        assertThat(ResyncInfoCodec.holdsTakenOver(null)).isFalse();
        assertThat(ResyncInfoCodec.holdsTakenOver(new byte[3])).isFalse();
    }
}
