package io.clustermd.md.io;

import java.nio.ByteBuffer;

/**
 * Aligned direct buffers, the Java side of md's page-aligned bio pages: O_DIRECT wants the memory address, the
 * file offset and the length to be multiples of the block size.
 */
public final class AlignedBuffers {
    /** The alignment every buffer handed out here has, whatever smaller alignment a device asks for. */
    public static final int MIN_ALIGNMENT = 4096;

    private AlignedBuffers() {
    }

    /**
     * A zeroed direct buffer of exactly {@code bytes} capacity (position 0, limit = capacity) whose first byte is
     * at an address that is a multiple of {@code alignment} (a power of two; raised to {@link #MIN_ALIGNMENT}).
     */
    public static ByteBuffer allocate(int bytes, int alignment) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative buffer size " + bytes);
        }
        int align = Math.max(MIN_ALIGNMENT, alignment);
        if (Integer.bitCount(align) != 1) {
            throw new IllegalArgumentException("alignment " + alignment + " is not a power of two");
        }
        // alignedSlice rounds the start up and the end down, so over-allocate by one alignment unit plus the
        // round-up of the size; then cut back to the requested size.
        int rounded = Math.toIntExact(roundUp(bytes, align));
        ByteBuffer raw = ByteBuffer.allocateDirect(Math.addExact(rounded, align));
        ByteBuffer aligned = raw.alignedSlice(align);
        return aligned.limit(bytes).slice();
    }

    /**
     * True if the buffer's bytes from its position start at an address that is a multiple of {@code alignment}
     * and the buffer is direct (heap arrays move under the garbage collector, so they are never aligned).
     */
    public static boolean isAligned(ByteBuffer buffer, int alignment) {
        return buffer.isDirect() && buffer.alignmentOffset(buffer.position(), alignment) == 0;
    }

    /** {@code value} rounded down to a multiple of {@code unit} (a power of two). */
    public static long roundDown(long value, int unit) {
        return value & -(long) unit;
    }

    /** {@code value} rounded up to a multiple of {@code unit} (a power of two). */
    public static long roundUp(long value, int unit) {
        return (value + unit - 1) & -(long) unit;
    }
}
