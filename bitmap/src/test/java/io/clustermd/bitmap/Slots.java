package io.clustermd.bitmap;

import java.nio.ByteBuffer;

/** Slot images for tests: a valid version-5 bitmap superblock followed by chosen bits. */
final class Slots {

    static final byte[] UUID = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    private Slots() {
    }

    static BitmapSuperblock superblock(long chunks, int chunkSize, long events, long eventsCleared, int state) {
        long syncSize = chunks * chunkSize / BitmapGeometry.SECTOR;
        return new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC, BitmapSuperblock.VERSION_CLUSTERED, UUID,
                events, eventsCleared, syncSize, state, chunkSize, 5, 0, 0, 4, "labclu");
    }

    /** A whole slot ({@link BitmapGeometry#slotBytes} bytes) with the given chunks set. */
    static byte[] image(long chunks, int chunkSize, long events, long eventsCleared, int state, long... set) {
        byte[] slot = new byte[(int) BitmapGeometry.slotBytes(chunks)];
        BitmapSuperblockCodec.encode(superblock(chunks, chunkSize, events, eventsCleared, state), ByteBuffer.wrap(slot));
        for (long c : set) {
            slot[BitmapGeometry.SUPERBLOCK_BYTES + (int) (c >>> 3)] |= (byte) (1 << (c & 7));
        }
        return slot;
    }

    static WriteIntentBitmap load(byte[] slot, long resyncStart, BitmapStorage storage) {
        try {
            return WriteIntentBitmap.load(ByteBuffer.wrap(slot), resyncStart, storage);
        } catch (BitmapFormatException e) {
            throw new AssertionError(e);
        }
    }
}
