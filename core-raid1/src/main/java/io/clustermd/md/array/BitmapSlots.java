package io.clustermd.md.array;

import io.clustermd.bitmap.BitmapFormatException;
import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.bitmap.BitmapSuperblockCodec;
import io.clustermd.bitmap.MergeResult;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * What a clustered array does on the members for the cluster layer: other nodes' bitmap slots
 * (md-bitmap.c's {@code md_bitmap_copy_from_slot} and {@code get_bitmap_from_slot}), the
 * superblock as another node left it ({@code md_reload_sb}), and the writes in flight under
 * another node's resync window ({@code quiesce}). The array's I/O paths never call this: only the
 * cluster's event handlers do, so the data path has no clustered branch.
 */
public final class BitmapSlots {

    private static final System.Logger LOG = System.getLogger(BitmapSlots.class.getName());

    private final MdArray array;
    private final SlotBitmapOps bitmap;

    private BitmapSlots(MdArray array, SlotBitmapOps bitmap) {
        this.array = array;
        this.bitmap = bitmap;
    }

    /** The slot operations of a running array with an on-disk bitmap. */
    public static BitmapSlots of(MdArray array) {
        if (!(array.bitmap() instanceof SlotBitmapOps slotBitmap)) {
            throw new IllegalArgumentException("array " + array.name() + " has no bitmap: it cannot be clustered");
        }
        return new BitmapSlots(array, slotBitmap);
    }

    /** This node's slot. */
    public int ownSlot() {
        return bitmap.slot();
    }

    /** Bytes of each member's data area in use. */
    public long componentBytes() {
        return array.componentBytes();
    }

    /** CHANGE_CAPACITY: the size every node knows is served here. */
    public void capacityChanged() {
        array.sizeChange().capacityChanged();
    }

    /** Bytes per bitmap chunk. */
    public long chunkBytes() {
        return bitmap.chunkBytes();
    }

    /**
     * Takes node slot {@code slot}'s dirty bits over (md's {@code md_bitmap_copy_from_slot(slot,
     * clear_bits=1)}, in the safe order):
     * <ol>
     *   <li>read the slot (superblock and bits) from the first in-sync member;</li>
     *   <li>merge its bits into our own slot and wait until they are durable there;</li>
     *   <li>write the slot back with every bit cleared (its superblock kept) to every member that
     *       takes writes — only now, so a crash in between leaves the bits on two slots, never none;</li>
     *   <li>ask the sync thread to resync what is now NEEDED in our slot.</li>
     * </ol>
     * Completes with the number of chunks taken over (0 for a clean slot: nothing is written).
     */
    public CompletableFuture<Long> takeOver(int slot) {
        checkOther(slot);
        return readSlot(slot).thenCompose(image -> {                                      // 1.
            ByteBuffer bits = image.duplicate().position(BitmapGeometry.SUPERBLOCK_BYTES);
            MergeResult merged = bitmap.mergeFrom(bits, bitmap.chunks());                   // 2.
            if (!merged.anyDirty()) {
                return CompletableFuture.completedFuture(0L);
            }
            return merged.durable().thenCompose(v -> {
                ByteBuffer cleared = image.duplicate();
                for (int i = BitmapGeometry.SUPERBLOCK_BYTES; i < cleared.limit(); i++) {
                    cleared.put(i, (byte) 0);
                }
                return array.writeBitmapPage(bitmap.slotByteOffset(slot), cleared.position(0));   // 3.
            }).thenApply(v -> {
                LOG.log(System.Logger.Level.INFO, "{0}: took over {1} dirty chunk(s) of bitmap slot {2}"
                        + " (chunks {3}..{4}) into slot {5}", array.name(), merged.chunksFound(), slot,
                        merged.firstChunk(), merged.lastChunk(), bitmap.slot());
                array.resyncNeeded();                                                        // 4.
                return merged.chunksFound();
            });
        });
    }

    /**
     * Every other node slot's dirty bits joined into ours, theirs left as they are (md's
     * {@code gather_bitmaps}: {@code md_bitmap_copy_from_slot(slot, clear_bits=0)} for each slot), before
     * a re-added member is rebuilt from the bitmap: what other nodes wrote while it was out is
     * recorded only in their slots. A slot that cannot be read is logged and left out. Completes,
     * once the joined bits are durable in our slot, with the chunks found.
     */
    public CompletableFuture<Long> mergeOtherSlots(int slotCount) {
        CompletableFuture<Long> total = CompletableFuture.completedFuture(0L);
        for (int s = 0; s < slotCount; s++) {
            if (s == bitmap.slot()) {
                continue;
            }
            int slot = s;
            total = total.thenCompose(sum -> readSlot(slot).thenCompose(image -> {
                MergeResult merged = bitmap.mergeFrom(image.duplicate().position(BitmapGeometry.SUPERBLOCK_BYTES),
                        bitmap.chunks());
                return merged.durable().thenApply(v -> sum + merged.chunksFound());
            }).handle((n, e) -> {
                if (e != null) {
                    LOG.log(System.Logger.Level.WARNING, "{0}: bitmap slot {1} left out of the re-add: {2}",
                            array.name(), slot, MdArray.rootMessage(e));
                    return sum;
                }
                return n;
            }));
        }
        return total;
    }

    /** The chunks set in node slot {@code slot}'s bitmap on the members (md's {@code get_bitmap_from_slot}). */
    public CompletableFuture<BitSet> slotBits(int slot) {
        return readSlot(slot).thenApply(image -> {
            long chunks = bitmap.chunks();
            BitSet set = new BitSet((int) chunks);
            for (int c = 0; c < chunks; c++) {
                if ((image.get(BitmapGeometry.SUPERBLOCK_BYTES + (c >>> 3)) & (1 << (c & 7))) != 0) {
                    set.set(c);
                }
            }
            return set;
        });
    }

    private CompletableFuture<ByteBuffer> readSlot(int slot) {
        ArrayMember source;
        try {
            source = array.firstInSync();
        } catch (IllegalStateException e) {
            return CompletableFuture.failedFuture(new IllegalStateException("cannot read bitmap slot " + slot
                    + " of " + array.name() + ": no member is in sync"));
        }
        ByteBuffer image = source.device.allocate((int) bitmap.slotBytes());
        return source.device.read(image, bitmap.slotByteOffset(slot)).thenApply(v -> {
            BitmapSuperblock sb = BitmapSuperblockCodec.decode(image.duplicate().position(0));
            try {
                BitmapSuperblockCodec.validate(sb, array.referenceCopy().setUuid(), source.name() + " bitmap slot " + slot);
            } catch (BitmapFormatException e) {
                throw new CompletionException(e);
            }
            return image.position(0);
        });
    }

    /**
     * md's {@code md_reload_sb} for what another node changed: reads the superblock of the first
     * in-sync member and moves our event count up to it, so our next update writes a newer one.
     * Completes with the events read.
     */
    public CompletableFuture<Long> reloadSuperblock() {
        ArrayMember source;
        try {
            source = array.firstInSync();
        } catch (IllegalStateException e) {
            return CompletableFuture.completedFuture(array.referenceCopy().events());
        }
        return RemoteMemberChanges.readSuperblock(source.device).thenApply(sb -> {
            if (sb == null) {
                throw new CompletionException(new IllegalStateException("cannot read the superblock of "
                        + source.name()));
            }
            array.adoptEvents(sb.events());
            return sb.events();
        });
    }

    /**
     * Completes once this node's writes running now in the byte range have finished (md-cluster
     * quiesces the array when another node announces a resync window, for the same reason: the
     * resyncing node must not read its source before they are on every member).
     */
    public CompletableFuture<Void> writesDrained(long offset, long length) {
        return array.barrier().drained(offset, length);
    }

    private void checkOther(int slot) {
        if (slot == bitmap.slot()) {
            throw new IllegalArgumentException("slot " + slot + " is this node's own slot");
        }
    }
}
