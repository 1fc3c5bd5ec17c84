package io.clustermd.md.array;

import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

/**
 * No bitmap (md's ID_BITMAP_NONE, {@code --bitmap=none}): writes cost nothing extra, and after an
 * unclean stop everything from {@code resync_offset} is resynced. Sync units are fixed windows.
 *
 * <p>The resync checkpoint on disk ({@code resync_offset}: "in sync below here") is only true while
 * no write below it can be half done at a crash. md keeps it so with its safe mode: the first write
 * after a quiet spell waits for a superblock that says "active" ({@code md_write_start}). Here the
 * same holds for the checkpoint alone: a write below it first lowers it to the write's window,
 * durably ({@link #guardCheckpoint}), and the sync raises it only while no write is in flight
 * ({@link #raiseCheckpoint}); the write counts itself before it reads the checkpoint and the sync
 * sets the checkpoint before it reads the count, so one of them always sees the other.
 */
public final class NoBitmapOps implements BitmapOps {

    /** Sync window without a bitmap. */
    public static final long WINDOW_BYTES = 1L << 20;

    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

    private volatile long chunks;
    private final BitSet needed = new BitSet();
    private final BitSet syncing = new BitSet();
    private final AtomicLong writesInFlight = new AtomicLong();
    /**
     * The highest resync_offset (bytes) the superblocks on disk may say: raised before the sync
     * writes a checkpoint, lowered once a lowering is durable. Writes at or past it need nothing.
     */
    private volatile long checkpointBytes = Long.MAX_VALUE;
    private volatile LongFunction<CompletableFuture<Void>> lowerOnDisk = b -> DONE;

    public NoBitmapOps(long syncBytes) {
        this.chunks = (syncBytes + WINDOW_BYTES - 1) / WINDOW_BYTES;
    }

    /**
     * From now on the checkpoint on disk is {@code bytes}; a write below it calls {@code lower} with
     * its window's start, which must complete once the superblocks saying so are durable.
     */
    void guardCheckpoint(long bytes, LongFunction<CompletableFuture<Void>> lower) {
        lowerOnDisk = lower;
        checkpointBytes = bytes;
    }

    /**
     * The sync may write {@code bytes} as the checkpoint: true when no write is in flight (the
     * caller then writes it under the same lock it lowers it with); false, and nothing changes, else.
     */
    synchronized boolean raiseCheckpoint(long bytes) {
        long before = checkpointBytes;
        checkpointBytes = bytes;
        if (writesInFlight.get() > 0) {
            checkpointBytes = Math.min(before, checkpointBytes);
            return false;
        }
        return true;
    }

    @Override
    public CompletableFuture<Void> startWrite(long offset, long length) {
        writesInFlight.incrementAndGet();
        if (offset >= checkpointBytes) {
            return DONE;
        }
        // Lowered here only once durable: until then every write below the old value waits too.
        long window = offset / WINDOW_BYTES * WINDOW_BYTES;
        return lowerOnDisk.apply(window).thenRun(() -> lowered(window));
    }

    private synchronized void lowered(long window) {
        checkpointBytes = Math.min(checkpointBytes, window);
    }

    @Override
    public void endWrite(long offset, long length, boolean succeeded, boolean degraded) {
        writesInFlight.decrementAndGet();
    }

    @Override
    public void daemonPass(boolean degraded) {
    }

    @Override
    public long chunkBytes() {
        return WINDOW_BYTES;
    }

    @Override
    public synchronized CompletableFuture<Void> resize(long syncBytes) {
        long n = (syncBytes + WINDOW_BYTES - 1) / WINDOW_BYTES;
        if (n < chunks) {
            needed.clear((int) n, (int) chunks);
        }
        chunks = n;
        return DONE;
    }

    @Override
    public long capacityBytes() {
        return Long.MAX_VALUE;
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
