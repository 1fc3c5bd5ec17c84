package io.clustermd.md.array;

import io.clustermd.md.Raid10Layout;

import java.util.ArrayList;
import java.util.List;

/**
 * raid10 address arithmetic: md raid10.c's {@code struct geom}, {@code calc_sectors}, {@code
 * raid10_size} and {@code __raid10_find_phys}, for the near, far and offset layouts mdadm creates
 * (far sets, layout bit 17 and up, are refused by {@link Raid10Layout#check}).
 *
 * <p>The array is cut into chunks. Chunk {@code c} has {@code near} consecutive positions {@code
 * c*near .. c*near+near-1} in the row-major sequence of device chunks, wrapping to the next row.
 * With far copies each of those is repeated {@code far-1} more times, each time on the device
 * {@code near} further on (modulo the raid disks): in the far layout {@code stride} bytes further
 * into the device (the device is split into {@code far} regions), in the offset layout one chunk
 * further (every stripe row is followed by its rotated copies, so a row uses {@code far} device rows).
 */
public final class Raid10Personality implements Personality {

    private final int raidDisks;
    private final int near;
    private final int far;
    private final boolean offset;
    private final long chunkBytes;
    /** md's {@code geo.stride}: how far apart a chunk's far copies are on a device. */
    private final long strideBytes;
    private final int layout;

    /** A near layout: what the mapping needs no component size for. */
    public Raid10Personality(int raidDisks, int nearCopies, long chunkBytes) {
        this(raidDisks, nearCopies | (1 << 8), chunkBytes, 0);
    }

    /**
     * @param layout         md's layout word ({@link Raid10Layout})
     * @param componentBytes the used size of each member (the superblock's {@code size}, md's
     *                       {@code dev_sectors}): the far layout's stride depends on it
     */
    public Raid10Personality(int raidDisks, int layout, long chunkBytes, long componentBytes) {
        String problem = Raid10Layout.check(layout, raidDisks);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        if (chunkBytes < 4096 || Long.bitCount(chunkBytes) != 1) {
            throw new IllegalArgumentException("raid10 chunk must be a power of two of at least 4 KiB");
        }
        this.raidDisks = raidDisks;
        this.layout = layout;
        this.near = Raid10Layout.nearCopies(layout);
        this.far = Raid10Layout.farCopies(layout);
        this.offset = Raid10Layout.offsetLayout(layout);
        this.chunkBytes = chunkBytes;
        // md's calc_sectors: the chunks every device holds, rounded up, split into far regions.
        long usedChunks = usedComponentBytes(componentBytes) / chunkBytes;
        this.strideBytes = offset ? chunkBytes : usedChunks / far * chunkBytes;
    }

    @Override
    public int level() {
        return 10;
    }

    /** md's {@code raid10_size}: whole chunks per device, per far region, times disks over near copies. */
    @Override
    public long arrayBytes(long componentBytes) {
        return Raid10Layout.arrayBytes(layout, raidDisks, chunkBytes, componentBytes);
    }

    /** md's {@code dev_sectors} after {@code calc_sectors}: the part of each member the layout uses. */
    public long usedComponentBytes(long componentBytes) {
        return Raid10Layout.usedComponentBytes(layout, raidDisks, chunkBytes, componentBytes);
    }

    @Override
    public long syncBytes(long componentBytes) {
        return arrayBytes(componentBytes);
    }

    /**
     * md raid10's {@code _enough}: groups of {@code near × far} consecutive slots, starting every
     * {@code near} slots, each need one in-sync member. (For far layouts this is md's own
     * approximation of where the copies lie, kept so both refuse and accept the same arrays.)
     */
    @Override
    public boolean enough(java.util.function.IntPredicate inSync) {
        int copies = near * far;
        int first = 0;
        do {
            boolean any = false;
            for (int i = 0, slot = first; i < copies; i++, slot = (slot + 1) % raidDisks) {
                any |= inSync.test(slot);
            }
            if (!any) {
                return false;
            }
            first = (first + near) % raidDisks;
        } while (first != 0);
        return true;
    }

    /**
     * Near layouts: a device row is complete once every chunk with a copy in it is, so after array
     * chunks {@code [0, C)} the first {@code C*near/raidDisks} rows are. Far and offset layouts put
     * copies of early chunks far into the device: no prefix is complete before the end (md recovers
     * them in device order instead; here they restart from the beginning, which is only slower).
     */
    @Override
    public long recoveredMemberBytes(long arrayBytes) {
        if (far > 1) {
            return 0;
        }
        return arrayBytes / chunkBytes * near / raidDisks * chunkBytes;
    }

    /** The first chunk that has a copy at or beyond {@code memberBytes}. */
    @Override
    public long recoveryResumesAt(long memberBytes) {
        if (far > 1) {
            return 0;
        }
        return memberBytes / chunkBytes * raidDisks / near * chunkBytes;
    }

    /** True for far and offset layouts: md reads them from the lowest address (the first region). */
    @Override
    public boolean readsFromLowestAddress() {
        return far > 1;
    }

    @Override
    public List<Piece> map(long arrayOffset, long length) {
        List<Piece> pieces = new ArrayList<>();
        long pos = arrayOffset;
        long end = arrayOffset + length;
        while (pos < end) {
            long within = pos % chunkBytes;
            long len = Math.min(end - pos, chunkBytes - within);
            pieces.add(new Piece(pos, len, copiesOf(pos / chunkBytes, within)));
            pos += len;
        }
        return pieces;
    }

    /** {@code __raid10_find_phys} for one array chunk; copies in md's slot order (near, then far). */
    private List<Extent> copiesOf(long chunk, long within) {
        long first = chunk * near;
        long row = first / raidDisks;
        int dev = (int) (first % raidDisks);
        if (offset) {
            row *= far;
        }
        long address = row * chunkBytes + within;
        List<Extent> copies = new ArrayList<>(near * far);
        for (int n = 0; n < near; n++) {
            int d = dev;
            long a = address;
            copies.add(new Extent(d, a));
            for (int f = 1; f < far; f++) {
                d = (d + near) % raidDisks;
                a += strideBytes;
                copies.add(new Extent(d, a));
            }
            if (++dev == raidDisks) {
                dev = 0;
                address += chunkBytes;
            }
        }
        return copies;
    }
}
