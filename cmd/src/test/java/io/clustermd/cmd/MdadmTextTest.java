package io.clustermd.cmd;

import org.junit.jupiter.api.Test;

import java.time.ZoneOffset;

import static org.assertj.core.api.Assertions.assertThat;

/** mdadm's formatting helpers. */
class MdadmTextTest {

    @Test
    void humanSize_boundaries_matchMdadm() {
        assertThat(MdadmText.humanSize(5000L * 1024 - 1)).isEmpty();
        assertThat(MdadmText.humanSize(64512L * 1024)).isEqualTo(" (63.00 MiB 66.06 MB)");
        assertThat(MdadmText.humanSize(2L << 30)).isEqualTo(" (2.00 GiB 2.15 GB)");
        assertThat(MdadmText.humanSize(3L << 40)).isEqualTo(" (3.00 TiB 3.30 TB)");
    }

    @Test
    void oneDecimal_roundsTheBinaryValueHalfToEven() {
        assertThat(MdadmText.oneDecimal(6.25)).isEqualTo("6.2");
        assertThat(MdadmText.oneDecimal(0.0)).isEqualTo("0.0");
        assertThat(MdadmText.oneDecimal(100.0)).isEqualTo("100.0");
        assertThat(MdadmText.oneDecimal(100.0 * 1 / 3)).isEqualTo("33.3");
    }

    @Test
    void ctime_padsTheDayWithASpaceAndUsesFortyBits() {
        assertThat(MdadmText.ctime(1793491200L, ZoneOffset.UTC)).isEqualTo("Sun Nov  1 00:00:00 2026");
        assertThat(MdadmText.ctime(1793491200L | (5L << 40), ZoneOffset.UTC)).isEqualTo("Sun Nov  1 00:00:00 2026");
    }

    @Test
    void sizes_parseMdadmSuffixes() {
        assertThat(Sizes.parseBytes("--size", "64")).isEqualTo(64 * 1024);
        assertThat(Sizes.parseBytes("--size", "64M")).isEqualTo(64L << 20);
        assertThat(Sizes.parseBytes("--size", "8s")).isEqualTo(4096);
    }
}
