package io.clustermd.bitmap;

import java.nio.ByteBuffer;

/**
 * The bit region of one slot, in md's little-endian bit order: chunk {@code c} is bit {@code c % 8}
 * of byte {@code c / 8} after the 256-byte superblock (kernel {@code test_bit_le}).
 */
public final class BitmapBits {

    private BitmapBits() {
    }

    /** Counts set bits among the first {@code chunks} bits of {@code bits} (from its position). */
    public static long countDirty(ByteBuffer bits, long chunks) {
        long dirty = 0;
        long fullBytes = chunks / 8;
        int base = bits.position();
        long available = bits.remaining();
        for (long i = 0; i < fullBytes && i < available; i++) {
            dirty += Integer.bitCount(bits.get(base + (int) i) & 0xff);
        }
        int rest = (int) (chunks % 8);
        if (rest != 0 && fullBytes < available) {
            dirty += Integer.bitCount(bits.get(base + (int) fullBytes) & ((1 << rest) - 1));
        }
        return dirty;
    }

    /** True when chunk {@code chunk} is set. */
    public static boolean isSet(ByteBuffer bits, long chunk) {
        return (bits.get(bits.position() + (int) (chunk / 8)) & (1 << (chunk % 8))) != 0;
    }
}
