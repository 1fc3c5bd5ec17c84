package io.clustermd.md.array;

import java.util.ArrayList;
import java.util.List;

/** raid1 (md raid1.c): every slot holds the whole array at the same offset. */
public final class Raid1Personality implements Personality {

    private final int raidDisks;

    public Raid1Personality(int raidDisks) {
        if (raidDisks < 1) {
            throw new IllegalArgumentException("raid1 needs at least one slot");
        }
        this.raidDisks = raidDisks;
    }

    @Override
    public int level() {
        return 1;
    }

    @Override
    public long arrayBytes(long componentBytes) {
        return componentBytes;
    }

    @Override
    public long syncBytes(long componentBytes) {
        return componentBytes;
    }

    /** md raid1: one in-sync member is enough. */
    @Override
    public boolean enough(java.util.function.IntPredicate inSync) {
        for (int s = 0; s < raidDisks; s++) {
            if (inSync.test(s)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public long recoveredMemberBytes(long arrayBytes) {
        return arrayBytes;
    }

    @Override
    public long recoveryResumesAt(long memberBytes) {
        return memberBytes;
    }

    @Override
    public List<Piece> map(long offset, long length) {
        List<Extent> copies = new ArrayList<>(raidDisks);
        for (int s = 0; s < raidDisks; s++) {
            copies.add(new Extent(s, offset));
        }
        return List.of(new Piece(offset, length, copies));
    }
}
