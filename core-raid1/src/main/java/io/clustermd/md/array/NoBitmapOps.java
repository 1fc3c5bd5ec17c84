package io.clustermd.md.array;

import java.util.BitSet;
import java.util.concurrent.CompletableFuture;

/**
 * No bitmap (md's ID_BITMAP_NONE, {@code --bitmap=none}): writes cost nothing extra, and after an
 * unclean stop everything from {@code resync_offset} is resynced. Sync units are fixed windows.
 */
public final class NoBitmapOps implements BitmapOps {

    /** Sync window without a bitmap. */
    public static final long WINDOW_BYTES = 1L << 20;

    private final long chunks;
    private final BitSet needed = new BitSet();
    private final BitSet syncing = new BitSet();

    public NoBitmapOps(long syncBytes) {
        this.chunks = (syncBytes + WINDOW_BYTES - 1) / WINDOW_BYTES;
    }

    @Override
    public CompletableFuture<Void> startWrite(long offset, long length) {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void endWrite(long offset, long length, boolean succeeded, boolean degraded) {
    }

    @Override
    public void daemonPass(boolean degraded) {
    }

    @Override
    public long chunkBytes() {
        return WINDOW_BYTES;
    }

    @Override
    public long chunks() {
        return chunks;
    }

    @Override
    public synchronized long nextChunkNeedingSync(long from) {
        int next = needed.nextSetBit((int) Math.min(from, Integer.MAX_VALUE));
        return next < 0 || next >= chunks ? -1 : next;
    }

    @Override
    public synchronized boolean startSync(long chunk) {
        if (!needed.get((int) chunk)) {
            return false;
        }
        syncing.set((int) chunk);
        return true;
    }

    @Override
    public synchronized void endSync(long chunk, boolean succeeded) {
        syncing.clear((int) chunk);
        if (succeeded) {
            needed.clear((int) chunk);
        }
    }

    @Override
    public synchronized void setNeeded(long fromChunk, long toChunk) {
        needed.set((int) fromChunk, (int) Math.min(toChunk, chunks));
    }

    @Override
    public synchronized long dirtyChunks() {
        return needed.cardinality();
    }

    @Override
    public synchronized boolean needsSync(long chunk) {
        return needed.get((int) chunk) || syncing.get((int) chunk);
    }

    @Override
    public void setEvents(long events) {
    }

    @Override
    public long eventsCleared() {
        return Long.MAX_VALUE;
    }

    @Override
    public CompletableFuture<Void> flushAll() {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public long pages() {
        return 0;
    }

    @Override
    public long bitmapChunkBytes() {
        return 0;
    }
}
