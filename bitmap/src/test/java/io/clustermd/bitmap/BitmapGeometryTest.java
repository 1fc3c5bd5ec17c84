package io.clustermd.bitmap;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Slot placement: the kernel's and mdadm's arithmetic. */
class BitmapGeometryTest {

    @Test
    void slots_oneGiBComponentSixtyFourMiBChunk_areOnePageApart() {
        // 1 GiB raid1 component, 64 MiB chunk: 16 chunks, 2 bytes of bits + 256 -> one 4 KiB page per slot.
        long chunks = BitmapGeometry.chunks(2097152, 64 << 20);
        assertThat(chunks).isEqualTo(16);
        assertThat(BitmapGeometry.slotBytes(chunks)).isEqualTo(4096);
        assertThat(BitmapGeometry.slotByteOffset(8, 8, chunks, 0)).isEqualTo(16 * 512);
        assertThat(BitmapGeometry.slotByteOffset(8, 8, chunks, 3)).isEqualTo(40 * 512);
    }

    @Test
    void slotBytes_bitsCrossingAPage_roundUpToTheNextPage() {
        assertThat(BitmapGeometry.slotBytes((4096 - 256) * 8)).isEqualTo(4096);
        assertThat(BitmapGeometry.slotBytes((4096 - 256) * 8 + 1)).isEqualTo(8192);
    }

    @Test
    void chunks_partialLastChunk_countsAsAChunk() {
        assertThat(BitmapGeometry.chunks(129024, 64 << 20)).isEqualTo(1);
        assertThat(BitmapGeometry.chunks(131072 * 2 + 1, 64 << 20)).isEqualTo(3);
        assertThat(BitmapGeometry.chunks(0, 4096)).isZero();
    }
}
