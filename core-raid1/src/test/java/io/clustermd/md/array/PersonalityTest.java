package io.clustermd.md.array;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Address mapping of raid1 and raid10 near layouts (md raid10_find_phys, far_copies == 1). */
class PersonalityTest {

    @Test
    void raid1_everySlotHoldsTheSameOffset() {
        List<Personality.Piece> pieces = new Raid1Personality(3).map(8192, 4096);
        assertThat(pieces).hasSize(1);
        assertThat(pieces.get(0).copies()).extracting(Personality.Extent::slot).containsExactly(0, 1, 2);
        assertThat(pieces.get(0).copies()).allMatch(e -> e.memberOffset() == 8192);
    }

    @Test
    void raid10NearTwoOnThreeDisks_rotatesCopiesLikeMd() {
        // n2 on 3 disks, 64 KiB chunks: chunk0 -> d0,d1 row0; chunk1 -> d2 row0, d0 row1; chunk2 -> d1,d2 row1.
        Raid10Personality p = new Raid10Personality(3, 2, 65536);
        List<Personality.Piece> pieces = p.map(0, 3 * 65536);
        assertThat(pieces).hasSize(3);
        assertThat(pieces.get(0).copies()).containsExactly(new Personality.Extent(0, 0), new Personality.Extent(1, 0));
        assertThat(pieces.get(1).copies()).containsExactly(new Personality.Extent(2, 0),
                new Personality.Extent(0, 65536));
        assertThat(pieces.get(2).copies()).containsExactly(new Personality.Extent(1, 65536),
                new Personality.Extent(2, 65536));
    }

    @Test
    void raid10_requestCrossingAChunk_isSplitAtTheBoundary() {
        Raid10Personality p = new Raid10Personality(2, 2, 65536);
        List<Personality.Piece> pieces = p.map(65536 - 4096, 8192);
        assertThat(pieces).extracting(Personality.Piece::length).containsExactly(4096L, 4096L);
        assertThat(pieces.get(1).copies().get(0).memberOffset()).isEqualTo(65536);
    }

    @Test
    void raid10_sizeIsWholeChunksTimesDisksOverCopies() {
        assertThat(new Raid10Personality(3, 2, 65536).arrayBytes(10 * 65536 + 100)).isEqualTo(15 * 65536);
        assertThat(new Raid10Personality(4, 2, 65536).arrayBytes(10 * 65536)).isEqualTo(20 * 65536);
    }
}
