package io.clustermd.md.io;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A bounded pool of aligned direct buffers in power-of-two size classes, so a steady stream of I/O does not
 * allocate direct memory per request (md keeps its own page pools, e.g. {@code r1bio_pool} and
 * {@code resync_pages}, for the same reason). Thread-safe.
 *
 * <p>{@link #acquire} returns a buffer of at least the asked size, position 0 and limit = the asked size, with
 * undefined contents. Hand it back once with {@link #release}; a buffer larger than {@link #maxPooledSize()} is
 * simply allocated and dropped. At most {@code perClass} buffers of each size are kept.
 */
public final class AlignedBufferPool {
    private final int alignment;
    private final int maxPooledSize;
    private final int perClass;
    private final ConcurrentLinkedQueue<ByteBuffer>[] classes;
    private final AtomicInteger[] counts;

    /**
     * @param alignment     memory alignment of every buffer (raised to 4096)
     * @param maxPooledSize the largest size kept for reuse (rounded up to a power of two)
     * @param perClass      how many free buffers of one size class are kept at most
     */
    @SuppressWarnings("unchecked")
    public AlignedBufferPool(int alignment, int maxPooledSize, int perClass) {
        this.alignment = Math.max(AlignedBuffers.MIN_ALIGNMENT, alignment);
        this.maxPooledSize = sizeClass(Math.max(this.alignment, Math.min(maxPooledSize, 1 << 30)));
        this.perClass = perClass;
        int n = Integer.numberOfTrailingZeros(this.maxPooledSize) + 1;
        this.classes = new ConcurrentLinkedQueue[n];
        this.counts = new AtomicInteger[n];
        for (int i = 0; i < n; i++) {
            classes[i] = new ConcurrentLinkedQueue<>();
            counts[i] = new AtomicInteger();
        }
    }

    public int maxPooledSize() {
        return maxPooledSize;
    }

    /** A buffer with limit {@code bytes}; see the class comment. */
    public ByteBuffer acquire(int bytes) {
        if (bytes > maxPooledSize) {
            return AlignedBuffers.allocate(bytes, alignment);
        }
        int size = sizeClass(bytes);
        int idx = Integer.numberOfTrailingZeros(size);
        ByteBuffer b = classes[idx].poll();
        if (b == null) {
            b = AlignedBuffers.allocate(size, alignment);
        } else {
            counts[idx].decrementAndGet();
        }
        return b.clear().limit(bytes);
    }

    /** Returns a buffer obtained from {@link #acquire}; the caller must not use it afterwards. */
    public void release(ByteBuffer buffer) {
        int cap = buffer.capacity();
        if (cap > maxPooledSize || Integer.bitCount(cap) != 1 || cap < alignment) {
            return;
        }
        int idx = Integer.numberOfTrailingZeros(cap);
        if (counts[idx].incrementAndGet() <= perClass) {
            classes[idx].offer(buffer);
        } else {
            counts[idx].decrementAndGet();
        }
    }

    private int sizeClass(int bytes) {
        int size = Math.max(alignment, bytes);
        return Integer.bitCount(size) == 1 ? size : Integer.highestOneBit(size) << 1;
    }
}
