package io.clustermd.bitmap;

/**
 * A point-in-time view of a {@link WriteIntentBitmap} for status output: what md prints as the
 * {@code bitmap:} line of /proc/mdstat ({@code md_bitmap_status}) plus the counters behind it.
 *
 * @param chunks            chunks (bits) the slot tracks
 * @param chunkSize         bytes per chunk
 * @param slotPages         4 KiB pages of the on-disk slot (superblock + bits)
 * @param counterPages      md's in-memory counter pages, 2048 16-bit counters each ({@code counts.pages})
 * @param counterPagesInUse counter pages holding at least one non-zero counter
 * @param dirtyChunks       chunks whose bit is set in memory (counter non-zero)
 * @param neededChunks      chunks flagged NEEDED or RESYNC: what a resync would copy
 * @param events            the slot superblock's {@code events}
 * @param eventsCleared     the in-memory {@code events_cleared} (the superblock follows on the next pass)
 * @param stale             the superblock's BITMAP_STALE bit as currently held in memory
 * @param clustered         a version-5 slot of a clustered bitmap
 * @param pageWrites        page writes issued through {@link BitmapStorage} since load
 */
public record BitmapStatus(
        long chunks,
        int chunkSize,
        int slotPages,
        long counterPages,
        long counterPagesInUse,
        long dirtyChunks,
        long neededChunks,
        long events,
        long eventsCleared,
        boolean stale,
        boolean clustered,
        long pageWrites) {

    /**
     * The /proc/mdstat line, e.g. {@code bitmap: 1/1 pages [4KB], 65536KB chunk}. Like md, a clustered
     * bitmap counts every counter page as allocated (md pre-allocates them for clustered arrays).
     */
    public String mdstat() {
        long used = clustered ? counterPages : counterPagesInUse;
        String chunk = chunkSize >= 1024 ? (chunkSize / 1024) + "KB" : chunkSize + "B";
        return "bitmap: " + used + "/" + counterPages + " pages [" + used * 4 + "KB], " + chunk + " chunk";
    }
}
