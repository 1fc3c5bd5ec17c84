package io.clustermd.bitmap;

/**
 * Where bitmap slots and bits live: the arithmetic shared by md's kernel side
 * ({@code md_bitmap_read_sb}, {@code md_bitmap_storage_alloc}) and mdadm ({@code calc_bitmap_size},
 * {@code locate_bitmap1}). Pure functions; all sizes in bytes unless the name says sectors.
 */
public final class BitmapGeometry {

    /** Size of {@code bitmap_super_t}; the bits of a slot start right after it. */
    public static final int SUPERBLOCK_BYTES = 256;
    /** Slots are rounded to this (the kernel's 4 KiB bitmap "file page"). */
    public static final int SLOT_ALIGNMENT = 4096;
    /** A 512-byte sector: md's unit for every on-disk offset. */
    public static final int SECTOR = 512;

    private BitmapGeometry() {
    }

    /** Chunks covered: {@code ceil(syncSizeSectors * 512 / chunkSize)} (mdadm {@code bitmap_bits}). */
    public static long chunks(long syncSizeSectors, int chunkSize) {
        if (chunkSize <= 0) {
            return 0;
        }
        long bytes = syncSizeSectors * SECTOR;
        return (bytes + chunkSize - 1) / chunkSize;
    }

    /** Bytes of bits for {@code chunks} chunks, one bit per chunk. */
    public static long bitBytes(long chunks) {
        return (chunks + 7) / 8;
    }

    /**
     * Bytes one node slot occupies: {@code roundup(256 + ceil(chunks/8), 4096)} (mdadm
     * {@code calc_bitmap_size(bms, 4096)}; the kernel's {@code slot_pages * 4096}).
     */
    public static long slotBytes(long chunks) {
        long used = SUPERBLOCK_BYTES + bitBytes(chunks);
        return (used + SLOT_ALIGNMENT - 1) / SLOT_ALIGNMENT * SLOT_ALIGNMENT;
    }

    /** Sectors one node slot occupies. */
    public static long slotSectors(long chunks) {
        return slotBytes(chunks) / SECTOR;
    }

    /**
     * Byte offset on the member of slot {@code slot}'s bitmap superblock:
     * {@code (superOffset + bitmapOffset) * 512 + slot * slotBytes}.
     */
    public static long slotByteOffset(long superOffsetSectors, int bitmapOffsetSectors, long chunks, int slot) {
        return (superOffsetSectors + bitmapOffsetSectors) * SECTOR + (long) slot * slotBytes(chunks);
    }

    /** Byte offset of the end of the last of {@code slots} slots. */
    public static long bitmapAreaEnd(long superOffsetSectors, int bitmapOffsetSectors, long chunks, int slots) {
        return slotByteOffset(superOffsetSectors, bitmapOffsetSectors, chunks, Math.max(slots, 1));
    }
}
