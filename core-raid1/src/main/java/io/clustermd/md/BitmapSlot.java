package io.clustermd.md;

import io.clustermd.bitmap.BitmapSuperblock;

/**
 * One node slot of a member's bitmap as read from disk (for a plain bitmap, the only slot).
 *
 * @param index      0-based md slot number
 * @param byteOffset where the slot's bitmap superblock starts on the member
 * @param superblock the slot's {@code bitmap_super_t}
 * @param chunks     bits the slot tracks (from slot 0's geometry, as md and mdadm use it)
 * @param dirty      set bits among the first {@code chunks}
 * @param problem    why md would refuse this slot, or null
 */
public record BitmapSlot(int index, long byteOffset, BitmapSuperblock superblock, long chunks, long dirty,
                         String problem) {
}
