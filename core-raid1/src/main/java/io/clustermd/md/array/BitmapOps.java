package io.clustermd.md.array;

import java.util.concurrent.CompletableFuture;

/**
 * The array's write-intent log: md's {@code struct bitmap_operations}, with two implementations —
 * the on-disk bitmap ({@link SlotBitmapOps}) and none ({@link NoBitmapOps}, md's ID_BITMAP_NONE),
 * so the array has no {@code if (bitmap)} branches. Offsets are bytes in the bitmap's sync space
 * (array addresses for both raid1 and raid10).
 */
public interface BitmapOps {

    /** {@code startwrite}: completes when the range is recorded durably as dirty. */
    CompletableFuture<Void> startWrite(long offset, long length);

    /** {@code endwrite}: the write finished; {@code degraded} keeps the chunk dirty for a missing mirror. */
    void endWrite(long offset, long length, boolean succeeded, boolean degraded);

    /** {@code daemon_work}: one lazy-clearing pass (never clears while degraded). */
    void daemonPass(boolean degraded);

    /** Bytes per sync unit: the bitmap chunk, or a fixed window without a bitmap. */
    long chunkBytes();

    /** Sync units in the sync space. */
    long chunks();

    /** First unit at or after {@code from} that needs syncing, or -1. */
    long nextChunkNeedingSync(long from);

    /** {@code start_sync}: true if the unit needs syncing (it is now marked as being synced). */
    boolean startSync(long chunk);

    /** {@code end_sync}. */
    void endSync(long chunk, boolean succeeded);

    /** Marks {@code [fromChunk, toChunk)} as needing sync (a new array, or a rebuild). */
    void setNeeded(long fromChunk, long toChunk);

    /** Units still dirty or needing sync. */
    long dirtyChunks();

    /** Bitmap pages written to the members since the array started (none without a bitmap). */
    default long pageWrites() {
        return 0;
    }

    /** True when chunk is being synced or waits for it (reads there go to the first member). */
    boolean needsSync(long chunk);

    /** The array's event counter moved (bitmap superblock {@code events}). */
    void setEvents(long events);

    /**
     * {@code events_cleared}: bits set since this event are still on disk, so a member that left
     * at or after it can be rebuilt from the bitmap alone. {@link Long#MAX_VALUE} without a bitmap.
     */
    long eventsCleared();

    /**
     * md's {@code md_bitmap_resize}: the sync space is {@code syncBytes} from now on (units added
     * start clean; units cut off must be idle). Completes when that is durable.
     */
    CompletableFuture<Void> resize(long syncBytes);

    /** The largest sync space {@link #resize} can reach in place. */
    long capacityBytes();

    /** Writes everything out (clean shutdown). */
    CompletableFuture<Void> flushAll();

    /** Pages of the bitmap (for status), 0 without one. */
    long pages();

    /** Chunk size for status, 0 without a bitmap. */
    long bitmapChunkBytes();
}
