package io.clustermd.md;

/**
 * mdadm 4.2's placement rules for new metadata-1.2 members (super1.c {@code choose_bm_space},
 * {@code validate_geometry1}, {@code add_internal_bitmap1}), as pure functions. Sizes in 512-byte
 * sectors unless the name says otherwise.
 */
public final class MdadmGeometry {

    /** mdadm's default bitmap chunk for internal and clustered bitmaps: 64 MiB. */
    public static final long DEFAULT_BITMAP_CHUNK_BYTES = 64L << 20;
    /** mdadm's smallest bitmap chunk ("sub-page chunks don't work yet"). */
    public static final long MIN_BITMAP_CHUNK_BYTES = 4096;
    /** Bitmap slot 0 starts 8 sectors after the superblock. */
    public static final int BITMAP_OFFSET_SECTORS = 8;

    private MdadmGeometry() {
    }

    /** Space mdadm reserves for a bitmap: 0 under 64 sectors, 4 KiB, 64 KiB above 8 GiB, 128 KiB from 200 GiB. */
    public static long chooseBitmapSpace(long deviceSectors) {
        if (deviceSectors < 64 * 2) {
            return 0;
        }
        if (deviceSectors - 64 * 2 >= 200L * 1024 * 1024 * 2) {
            return 128 * 2;
        }
        if (deviceSectors - 4 * 2 > 8L * 1024 * 1024 * 2) {
            return 64 * 2;
        }
        return 4 * 2;
    }

    /**
     * Default data offset: {@code ROUND_UP(24 + bmspace + headroom, 2048)} where headroom starts at
     * 128 MiB and halves while it exceeds about 0.1 % of the device (for striped levels not below
     * twice the chunk).
     *
     * @param chunkKiB raid chunk in KiB, 0 for raid1
     */
    public static long defaultDataOffset(long deviceSectors, int chunkKiB) {
        long headroom = 128L * 1024 * 2;
        while ((headroom << 10) > deviceSectors && (chunkKiB == 0 || headroom / 2 >= (long) chunkKiB * 2 * 2)) {
            headroom >>= 1;
        }
        long offset = 12 * 2 + chooseBitmapSpace(deviceSectors) + headroom;
        return (offset + 2047) / 2048 * 2048;
    }

    /**
     * Smallest bitmap chunk mdadm accepts: a bitmap over {@code syncSectors} must fit the room
     * reserved for a component of {@code componentSectors} (capped at 128 KiB when no chunk was
     * requested). Returns -1 when there is no room at all.
     */
    public static long minimumBitmapChunk(long componentSectors, long syncSectors, boolean chunkRequested) {
        long room = chooseBitmapSpace(componentSectors);
        if (!chunkRequested && room > 128 * 2) {
            room = 128 * 2;
        }
        if (room <= 1) {
            return -1;
        }
        long maxBits = (room * 512 - 256) * 8;
        long minChunk = MIN_BITMAP_CHUNK_BYTES;
        long bits = syncSectors * 512 / minChunk + 1;
        while (bits > maxBits) {
            minChunk *= 2;
            bits = (bits + 1) / 2;
        }
        return minChunk;
    }

    /** mdadm's default chunk: at least 64 MiB, more if the bitmap would not fit. */
    public static long defaultBitmapChunk(long componentSectors, long syncSectors) {
        return Math.max(minimumBitmapChunk(componentSectors, syncSectors, false), DEFAULT_BITMAP_CHUNK_BYTES);
    }

    /** {@code max_dev} for a new array: dev_roles padded to fill whole 512-byte sectors. */
    public static int maxDevFor(int devices) {
        int sbsize = MdSuperblockCodec.roundUp(MdSuperblockCodec.FIXED_BYTES + 2 * devices, 512);
        return (sbsize - MdSuperblockCodec.FIXED_BYTES) / 2;
    }
}
