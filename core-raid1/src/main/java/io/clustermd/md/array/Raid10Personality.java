package io.clustermd.md.array;

import java.util.ArrayList;
import java.util.List;

/**
 * raid10 with a near layout (md raid10.c {@code raid10_find_phys} for far_copies == 1): the array
 * is cut into chunks; chunk {@code c} has {@code near} copies on consecutive device slots starting
 * at {@code (c * near) % raidDisks}, in stripe row {@code (c * near) / raidDisks}.
 */
public final class Raid10Personality implements Personality {

    private final int raidDisks;
    private final int near;
    private final long chunkBytes;

    public Raid10Personality(int raidDisks, int nearCopies, long chunkBytes) {
        if (nearCopies < 1 || nearCopies > raidDisks) {
            throw new IllegalArgumentException("raid10 near=" + nearCopies + " needs at least that many slots");
        }
        if (chunkBytes < 4096 || Long.bitCount(chunkBytes) != 1) {
            throw new IllegalArgumentException("raid10 chunk must be a power of two of at least 4 KiB");
        }
        this.raidDisks = raidDisks;
        this.near = nearCopies;
        this.chunkBytes = chunkBytes;
    }

    @Override
    public int level() {
        return 10;
    }

    /** md's raid10 size: whole chunks of each member, times raid disks, divided by copies. */
    @Override
    public long arrayBytes(long componentBytes) {
        long chunksPerDevice = componentBytes / chunkBytes;
        return chunksPerDevice * raidDisks / near * chunkBytes;
    }

    @Override
    public long syncBytes(long componentBytes) {
        return arrayBytes(componentBytes);
    }

    @Override
    public List<Piece> map(long offset, long length) {
        List<Piece> pieces = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            long chunk = pos / chunkBytes;
            long within = pos % chunkBytes;
            long len = Math.min(end - pos, chunkBytes - within);
            long first = chunk * near; // position of the first copy in the device-chunk sequence
            List<Extent> copies = new ArrayList<>(near);
            for (int n = 0; n < near; n++) {
                long seq = first + n;
                int slot = (int) (seq % raidDisks);
                long row = seq / raidDisks;
                copies.add(new Extent(slot, row * chunkBytes + within));
            }
            pieces.add(new Piece(pos, len, copies));
            pos += len;
        }
        return pieces;
    }
}
