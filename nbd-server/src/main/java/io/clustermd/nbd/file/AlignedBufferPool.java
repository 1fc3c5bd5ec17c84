package io.clustermd.nbd.file;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Direct buffers whose memory starts on a 4096-byte boundary, as O_DIRECT needs, recycled by
 * power-of-two size class. Netty's pooled allocator can align only where it may use
 * {@code sun.misc.Unsafe}, which newer JDKs withhold, so this small pool does it with
 * {@link ByteBuffer#alignedSlice(int)}.
 *
 * <p>A buffer has exactly the capacity asked for (it cannot grow) and goes back to its class when
 * its reference count drops to zero; each class keeps at most about 64 MiB of idle memory. A
 * buffer that is never released is reclaimed by the garbage collector like any direct buffer.
 */
public final class AlignedBufferPool {
    /** Alignment of every buffer's first byte. */
    public static final int ALIGNMENT = 4096;
    private static final int MIN_SHIFT = 12;          // 4 KiB
    private static final int MAX_SHIFT = 26;          // 64 MiB
    private static final long IDLE_BYTES_PER_CLASS = 64L << 20;

    /** The process-wide pool. */
    public static final AlignedBufferPool SHARED = new AlignedBufferPool();

    private final SizeClass[] classes = new SizeClass[MAX_SHIFT - MIN_SHIFT + 1];
    private final java.util.concurrent.atomic.LongAdder outstanding = new java.util.concurrent.atomic.LongAdder();

    public AlignedBufferPool() {
        for (int i = 0; i < classes.length; i++) {
            int size = 1 << (MIN_SHIFT + i);
            classes[i] = new SizeClass(size, (int) Math.max(4, IDLE_BYTES_PER_CLASS / size));
        }
    }

    /** A buffer of exactly {@code capacity} bytes (writer index 0), aligned to {@link #ALIGNMENT}. */
    public ByteBuf allocate(int capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity " + capacity + " (expected: >= 0)");
        }
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(1, capacity) - 1));
        if (shift > MAX_SHIFT) {
            // Larger than any class: allocated and freed each time.
            outstanding.increment();
            return new AlignedByteBuf(this, null, newAligned(capacity), capacity);
        }
        SizeClass c = classes[shift - MIN_SHIFT];
        ByteBuffer block = c.free.poll();
        if (block != null) {
            c.idle.decrementAndGet();
        } else {
            block = newAligned(c.size);
        }
        outstanding.increment();
        return new AlignedByteBuf(this, c, block, capacity);
    }

    /** Buffers handed out and not yet released (a leak check for tests and diagnostics). */
    public long outstanding() {
        return outstanding.sum();
    }

    private static ByteBuffer newAligned(int size) {
        int rounded = (size + ALIGNMENT - 1) & -ALIGNMENT;
        return ByteBuffer.allocateDirect(rounded + ALIGNMENT).alignedSlice(ALIGNMENT).limit(size).slice();
    }

    private static final class SizeClass {
        final int size;
        final int maxIdle;
        final ConcurrentLinkedQueue<ByteBuffer> free = new ConcurrentLinkedQueue<>();
        final AtomicInteger idle = new AtomicInteger();

        SizeClass(int size, int maxIdle) {
            this.size = size;
            this.maxIdle = maxIdle;
        }

        void recycle(ByteBuffer block) {
            if (idle.incrementAndGet() <= maxIdle) {
                free.offer(block);
            } else {
                idle.decrementAndGet();
            }
        }
    }

    /** A fixed-capacity direct ByteBuf over a pooled aligned block. */
    private static final class AlignedByteBuf extends UnpooledDirectByteBuf {
        private final AlignedBufferPool pool;
        private final SizeClass owner;
        private ByteBuffer block;

        AlignedByteBuf(AlignedBufferPool pool, SizeClass owner, ByteBuffer block, int capacity) {
            super(UnpooledByteBufAllocator.DEFAULT, block.duplicate().clear().limit(capacity).slice(), capacity);
            this.pool = pool;
            this.owner = owner;
            this.block = block;
            writerIndex(0);
        }

        @Override
        protected void deallocate() {
            super.deallocate();
            ByteBuffer b = block;
            block = null;
            if (b != null) {
                pool.outstanding.decrement();
                if (owner != null) {
                    owner.recycle(b);
                }
            }
        }
    }
}
