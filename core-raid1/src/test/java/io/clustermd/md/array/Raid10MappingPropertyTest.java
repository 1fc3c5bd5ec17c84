package io.clustermd.md.array;

import io.clustermd.md.Raid10Layout;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.statistics.StatisticsReport;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The raid10 address mapping ({@link Raid10Personality}, md's {@code __raid10_find_phys}) against an
 * independent model written from md's description of the layouts (raid10.c's header and md(4)):
 * in each of the {@code far} sections of every device the chunks lie as in raid0, with {@code near}
 * copies on consecutive devices; each section starts {@code near} devices further on than the one
 * before; the offset layout keeps a stripe's far copies in the rows right after it. Also: no two
 * copies share a device chunk, every copy lies in the part of the member md uses, and md's {@code
 * enough()} is true exactly when every chunk keeps a copy.
 */
class Raid10MappingPropertyTest {

    record Geometry(int disks, int near, int far, boolean offset, int chunkKiB, long componentChunks) {
        int layout() {
            return near | (far << 8) | (offset ? 1 << 16 : 0);
        }

        long chunkBytes() {
            return chunkKiB * 1024L;
        }
    }

    /** Geometries mdadm can create: nN, fN or oN with N copies on N or more devices. */
    @Provide
    Arbitrary<Geometry> geometries() {
        Arbitrary<Integer> disks = Arbitraries.integers().between(2, 9);
        Arbitrary<Character> kind = Arbitraries.of('n', 'f', 'o');
        Arbitrary<Integer> copies = Arbitraries.integers().between(2, 4);
        Arbitrary<Integer> chunk = Arbitraries.of(4, 64, 512);
        Arbitrary<Long> component = Arbitraries.longs().between(4, 300);
        return Combinators.combine(disks, kind, copies, chunk, component)
                .as((d, k, c, ch, comp) -> new Geometry(d, k == 'n' ? c : 1, k == 'n' ? 1 : c, k == 'o', ch, comp))
                .filter(g -> g.near() * g.far() <= g.disks());
    }

    /** Where the model puts copy {@code n} (near) / {@code f} (far) of array chunk {@code c}: device and device chunk. */
    record Place(int device, long deviceChunk) {
    }

    static List<Place> modelCopies(Geometry g, long chunk, long sectionChunks) {
        List<Place> places = new java.util.ArrayList<>();
        for (int n = 0; n < g.near(); n++) {
            long position = chunk * g.near() + n;           // raid0-style sequence of the first section
            int device = (int) (position % g.disks());
            long row = position / g.disks();
            for (int f = 0; f < g.far(); f++) {
                int d = (device + f * g.near()) % g.disks(); // each section rotated by near devices
                long at = g.offset() ? row * g.far() + f : f * sectionChunks + row;
                places.add(new Place(d, at));
            }
        }
        return places;
    }

    @Property(tries = 400, seed = "20261207")
    @StatisticsReport(onFailureOnly = false)
    void mapping_matchesTheModelOfMdLayouts(@ForAll("geometries") Geometry g) {
        Statistics.label("layout").collect(g.far() == 1 ? "near" : g.offset() ? "offset" : "far");
        Statistics.label("layout").coverage(c -> {
            c.check("near").percentage(p -> p > 15);
            c.check("far").percentage(p -> p > 15);
            c.check("offset").percentage(p -> p > 15);
        });
        long componentBytes = g.componentChunks() * g.chunkBytes();
        Raid10Personality p = new Raid10Personality(g.disks(), g.layout(), g.chunkBytes(), componentBytes);
        long arrayChunks = p.arrayBytes(componentBytes) / g.chunkBytes();
        long usedChunks = p.usedComponentBytes(componentBytes) / g.chunkBytes();
        // The model's own sizes: every array chunk needs near*far device chunks; a far section is a
        // whole number of rows, so a device holds far sections of ceil(used / far) rows.
        assertThat(arrayChunks).isEqualTo(g.componentChunks() / g.far() * g.disks() / g.near());
        assertThat(usedChunks).isLessThanOrEqualTo(g.componentChunks());
        long sectionChunks = usedChunks / g.far();

        Map<Place, Long> owner = new HashMap<>();
        for (long c = 0; c < arrayChunks; c++) {
            long within = (c * 4096) % g.chunkBytes();   // a different offset inside each chunk
            List<Personality.Piece> pieces = p.map(c * g.chunkBytes() + within, 512);
            assertThat(pieces).hasSize(1);
            List<Place> actual = pieces.get(0).copies().stream()
                    .peek(e -> assertThat(e.memberOffset() % g.chunkBytes()).isEqualTo(within))
                    .map(e -> new Place(e.slot(), e.memberOffset() / g.chunkBytes())).toList();
            assertThat(actual).as("chunk %d of %s", c, g).containsExactlyElementsOf(modelCopies(g, c, sectionChunks));
            Set<Integer> devices = new HashSet<>();
            for (Place place : actual) {
                assertThat(place.deviceChunk()).as("copy of chunk %d beyond the used part", c).isLessThan(usedChunks);
                Long before = owner.put(place, c);
                assertThat(before).as("%s holds chunks %s and %d", place, before, c).isNull();
                devices.add(place.device());
            }
            assertThat(devices).as("copies of chunk %d on distinct devices", c).hasSize(g.near() * g.far());
        }
    }

    @Property(tries = 200, seed = "20261208")
    void enough_isTrueExactlyWhenEveryChunkKeepsACopy(@ForAll("geometries") Geometry g) {
        long componentBytes = g.componentChunks() * g.chunkBytes();
        Raid10Personality p = new Raid10Personality(g.disks(), g.layout(), g.chunkBytes(), componentBytes);
        // The copies of a chunk sit on a rotating pattern: one full turn of the devices covers them all.
        long chunksToLook = Math.min(p.arrayBytes(componentBytes) / g.chunkBytes(), 4L * g.disks());
        for (int failed = 0; failed < (1 << g.disks()); failed++) {
            int mask = failed;
            boolean everyChunkKept = true;
            for (long c = 0; c < chunksToLook && everyChunkKept; c++) {
                everyChunkKept = p.map(c * g.chunkBytes(), 512).get(0).copies().stream()
                        .anyMatch(e -> (mask & (1 << e.slot())) == 0);
            }
            assertThat(p.enough(slot -> (mask & (1 << slot)) == 0))
                    .as("%s with slots %s failed", g, Integer.toBinaryString(mask)).isEqualTo(everyChunkKept);
        }
    }

    @Property(tries = 50, seed = "20261209")
    void layoutWord_roundTripsThroughMdadmsSpelling(@ForAll("geometries") Geometry g) {
        assertThat(Raid10Layout.parse(Raid10Layout.name(g.layout()))).isEqualTo(g.layout());
        assertThat(Raid10Layout.check(g.layout(), g.disks())).isNull();
    }
}
