package io.clustermd.control;

/**
 * The write-intent bitmap as md reports it ({@code md_bitmap_status} in /proc/mdstat, the
 * {@code bitmap/} sysfs directory, mdadm --examine-bitmap's counts).
 *
 * @param chunkBytes         bytes of data per bit ({@code bitmap/chunksize})
 * @param pagesTotal         pages of in-memory counters the bitmap needs (md's {@code counts.pages}; each
 *                           4 KiB page holds 2048 16-bit chunk counters)
 * @param pagesInMemory      of those, pages allocated ({@code pages - missing_pages})
 * @param chunks             bits in this node's bitmap
 * @param dirtyChunks        bits set now
 * @param daemonSleepSeconds the bitmap daemon's period ({@code bitmap/time_base}, {@code daemon_sleep})
 */
public record BitmapStatus(
        long chunkBytes,
        long pagesTotal,
        long pagesInMemory,
        long chunks,
        long dirtyChunks,
        int daemonSleepSeconds) {

    /** md's page of counters: PAGE_SIZE bytes of 16-bit counters. */
    public static final int COUNTERS_PER_PAGE = 4096 / 2;

    /** Pages md allocates for {@code chunks} counters ({@code DIV_ROUND_UP(chunks, PAGE_COUNTER_RATIO)}). */
    public static long pagesFor(long chunks) {
        return (chunks + COUNTERS_PER_PAGE - 1) / COUNTERS_PER_PAGE;
    }
}
