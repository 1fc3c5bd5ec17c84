package io.clustermd.md.array;

import io.clustermd.bitmap.BitmapFormatException;
import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.WriteIntentBitmap;
import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.io.MemberDevice;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/**
 * The on-disk write-intent bitmap of this node's slot behind {@link BitmapOps}: a
 * {@link WriteIntentBitmap} whose pages the array writes to every member that takes writes
 * (md-bitmap.c's {@code write_sb_page} over {@code next_active_rdev}).
 */
public final class SlotBitmapOps implements BitmapOps {

    /** Where the array writes bitmap pages: every writable member, durable on completion. */
    public interface PageSink {
        CompletableFuture<Void> writeToMembers(long byteOffset, ByteBuffer data);
    }

    private final WriteIntentBitmap bitmap;
    private final long slotOffset;
    /** Byte offset of slot 0 on a member, and bytes per slot: where every node's slot lies. */
    private final long slotZeroOffset;
    private final long slotBytes;
    private final int slot;
    private volatile PageSink sink;
    private volatile BooleanSupplier degraded = () -> false;

    private SlotBitmapOps(ByteBuffer slotImage, long resyncStartSector, long slotZeroOffset, long slotBytes, int slot)
            throws BitmapFormatException {
        this.slotZeroOffset = slotZeroOffset;
        this.slotBytes = slotBytes;
        this.slot = slot;
        this.slotOffset = slotZeroOffset + slot * slotBytes;
        this.bitmap = WriteIntentBitmap.load(slotImage, resyncStartSector, this::writePage);
    }

    /**
     * The bitmap operations for an assembled array: this node's slot read from the first in-sync
     * member, or {@link NoBitmapOps} when the array has no bitmap. md's bitmap_load start rule: the
     * superblock's resync offset, or 0 when the array is degraded (every dirty bit then needs sync).
     */
    public static BitmapOps forArray(AssemblyPlan plan, List<MemberDevice> devices, int slot) throws MdFormatException {
        MdSuperblock ref = plan.reference();
        Personality personality = MdArray.personalityOf(ref);
        long syncBytes = personality.syncBytes(ref.size() * 512);
        if (!ref.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
            return new NoBitmapOps(syncBytes);
        }
        int source = -1;
        long inSync = 0;
        for (int i = 0; i < plan.members().size(); i++) {
            if (plan.members().get(i).state() == MemberState.IN_SYNC) {
                inSync++;
                if (source < 0) {
                    source = i;
                }
            }
        }
        MemberDevice device = devices.get(source);
        var first = plan.members().get(source).metadata();
        long chunks = first.bitmap().chunks();
        long offset = BitmapGeometry.slotByteOffset(ref.superOffset(), ref.bitmapOffset(), chunks, slot);
        ByteBuffer image = device.allocate((int) BitmapGeometry.slotBytes(chunks));
        device.read(image, offset).join();
        boolean degradedAtStart = inSync < ref.raidDisks();
        // A clustered array's superblock says clean when the last node to write it stopped cleanly,
        // which says nothing of this slot: every dirty bit in it needs a resync.
        boolean clustered = ref.hasFeature(MdSuperblock.FEATURE_CLUSTERED);
        long start = degradedAtStart || clustered ? 0 : ref.resyncOffset();
        try {
            return new SlotBitmapOps(image, start, BitmapGeometry.slotByteOffset(ref.superOffset(), ref.bitmapOffset(),
                    chunks, 0), BitmapGeometry.slotBytes(chunks), slot);
        } catch (BitmapFormatException e) {
            throw new MdFormatException(device.name() + ": " + e.getMessage(), e);
        }
    }

    /** This node's slot. */
    public int slot() {
        return slot;
    }

    /** Byte offset on a member of node slot {@code nodeSlot}'s bitmap superblock. */
    public long slotByteOffset(int nodeSlot) {
        return slotZeroOffset + nodeSlot * slotBytes;
    }

    /** Bytes one node slot occupies (superblock and bits, 4 KiB aligned). */
    public long slotBytes() {
        return slotBytes;
    }

    /**
     * md's {@code md_bitmap_copy_from_slot} without the clear: every chunk set in {@code bits}
     * becomes dirty and NEEDED here; {@link io.clustermd.bitmap.MergeResult#durable()} completes once
     * that is on the members, and only then may the caller clear the other slot.
     */
    public io.clustermd.bitmap.MergeResult mergeFrom(ByteBuffer bits, long chunks) {
        return bitmap.mergeFrom(bits, chunks);
    }

    /** Connects the bitmap to the array that writes its pages. */
    void attach(PageSink pageSink, BooleanSupplier arrayDegraded) {
        this.sink = pageSink;
        this.degraded = arrayDegraded;
    }

    private CompletableFuture<Void> writePage(int pageIndex, ByteBuffer page) {
        PageSink s = sink;
        if (s == null) {
            return CompletableFuture.failedFuture(new IllegalStateException("bitmap not attached to an array"));
        }
        return s.writeToMembers(slotOffset + (long) pageIndex * WriteIntentBitmap.PAGE_BYTES, page);
    }

    @Override
    public CompletableFuture<Void> startWrite(long offset, long length) {
        return bitmap.startWrite(offset, length);
    }

    @Override
    public void endWrite(long offset, long length, boolean succeeded, boolean isDegraded) {
        bitmap.endWrite(offset, length, succeeded, isDegraded);
    }

    @Override
    public void daemonPass(boolean isDegraded) {
        bitmap.daemonPass(isDegraded);
    }

    @Override
    public long chunkBytes() {
        return bitmap.chunkSize();
    }

    @Override
    public long chunks() {
        return bitmap.chunks();
    }

    @Override
    public long nextChunkNeedingSync(long from) {
        return bitmap.nextChunkNeedingSync(from);
    }

    @Override
    public boolean startSync(long chunk) {
        return bitmap.startSync(chunk, degraded.getAsBoolean());
    }

    @Override
    public void endSync(long chunk, boolean succeeded) {
        bitmap.endSync(chunk, succeeded);
    }

    @Override
    public void setNeeded(long fromChunk, long toChunk) {
        bitmap.setNeeded(fromChunk, toChunk).join();
    }

    @Override
    public long dirtyChunks() {
        return bitmap.dirtyChunks();
    }

    @Override
    public long pageWrites() {
        return bitmap.pageWrites();
    }

    @Override
    public boolean needsSync(long chunk) {
        return bitmap.needsSync(chunk);
    }

    @Override
    public void setEvents(long events) {
        bitmap.setEvents(events);
    }

    @Override
    public long eventsCleared() {
        return bitmap.eventsCleared();
    }

    @Override
    public CompletableFuture<Void> resize(long syncBytes) {
        return bitmap.resize(syncBytes / 512);
    }

    /** What this slot's pages hold: growing past it would move every other node's slot. */
    @Override
    public long capacityBytes() {
        return bitmap.capacityChunks() * (long) bitmap.chunkSize();
    }

    @Override
    public CompletableFuture<Void> flushAll() {
        return bitmap.flushAll(degraded.getAsBoolean());
    }

    @Override
    public long pages() {
        return bitmap.slotPages();
    }

    @Override
    public long bitmapChunkBytes() {
        return bitmap.chunkSize();
    }
}
