package io.clustermd.md.cluster;

import java.util.concurrent.CompletableFuture;

/**
 * What the array does when this node takes over another node's bitmap slot (md-cluster's
 * {@code recover_bitmaps} → {@code md_bitmap_copy_from_slot(slot, clear)}), called with that
 * slot's lock held, so no other node touches it meanwhile.
 */
@FunctionalInterface
public interface SlotTakeover {
    /**
     * 1. Read slot {@code slot}'s bitmap from the members; 2. make its dirty bits durable in this
     * node's own slot (so they are never on no slot); 3. clear them in {@code slot} and write it.
     * Completes with the number of chunks taken over (0 for a clean slot); those chunks then need
     * a resync, which the array starts.
     */
    CompletableFuture<Long> takeOver(int slot);

    /**
     * Whether slot {@code slot} has any dirty bit on the members, read without its lock (md's
     * {@code get_bitmap_from_slot}, as {@code load_bitmaps} looks before it recovers). A slot that
     * reads clean while its lock is free has nothing to recover; one that reads dirty is then taken
     * under its lock. The default says dirty, so a caller always falls back to taking the lock.
     */
    default CompletableFuture<Boolean> slotDirty(int slot) {
        return CompletableFuture.completedFuture(true);
    }
}
