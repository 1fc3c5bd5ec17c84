package io.clustermd.nbd.file;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.util.internal.CleanableDirectBuffer;
import io.netty.util.internal.PlatformDependent;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers whose memory starts on a 4096-byte boundary, as O_DIRECT needs, recycled by
 * power-of-two size class. Netty's pooled allocator can align only where it may use
 * {@code sun.misc.Unsafe}, which newer JDKs withhold, so this small pool does it with
 * {@link ByteBuffer#alignedSlice(int)}.
 *
 * <p>A buffer has exactly the capacity asked for (it cannot grow) and goes back to its class when
 * its reference count drops to zero. All classes together keep at most {@link #maxIdleBytes()} of
 * idle memory; a block beyond that is freed at once.
 *
 * <p>Memory comes from Netty's {@link PlatformDependent#allocateDirect(int)} where Netty can free it
 * explicitly (on JDK 24 and later through the foreign-function linker): it is then freed the moment
 * it is dropped, counted against Netty's direct-memory limit ({@code io.netty.maxDirectMemory}, by
 * default {@code -XX:MaxDirectMemorySize}), and an allocation over that limit fails at once. A plain
 * {@link ByteBuffer#allocateDirect} would instead wait for the garbage collector to free dropped
 * buffers and, near the limit, sleep in {@code java.nio.Bits.reserveMemory} on the calling thread.
 */
public final class AlignedBufferPool {
    /** Alignment of every buffer's first byte. */
    public static final int ALIGNMENT = 4096;
    private static final int MIN_SHIFT = 12;          // 4 KiB
    private static final int MAX_SHIFT = 26;          // 64 MiB
    private static final long DEFAULT_MAX_IDLE_BYTES = 16L << 20;

    /** The process-wide pool. */
    public static final AlignedBufferPool SHARED = new AlignedBufferPool();

    private final SizeClass[] classes = new SizeClass[MAX_SHIFT - MIN_SHIFT + 1];
    private final long maxIdleBytes;
    private final java.util.concurrent.atomic.LongAdder outstanding = new java.util.concurrent.atomic.LongAdder();
    private final AtomicLong idleBytes = new AtomicLong();
    private final AtomicLong allocatedBytes = new AtomicLong();

    public AlignedBufferPool() {
        this(DEFAULT_MAX_IDLE_BYTES);
    }

    /** A pool that keeps at most {@code maxIdleBytes} of released blocks for reuse. */
    public AlignedBufferPool(long maxIdleBytes) {
        if (maxIdleBytes < 0) {
            throw new IllegalArgumentException("maxIdleBytes " + maxIdleBytes + " (expected: >= 0)");
        }
        this.maxIdleBytes = maxIdleBytes;
        for (int i = 0; i < classes.length; i++) {
            classes[i] = new SizeClass(1 << (MIN_SHIFT + i));
        }
    }

    /**
     * The direct memory a buffer of {@code capacity} bytes occupies: its size class (or the capacity
     * rounded to the alignment, above the largest class) plus the alignment margin.
     */
    public static long footprint(long capacity) {
        int shift = shiftOf(capacity);
        long block = shift > MAX_SHIFT ? (capacity + ALIGNMENT - 1) & -ALIGNMENT : 1L << shift;
        return block + ALIGNMENT;
    }

    private static int shiftOf(long capacity) {
        return (int) Math.max(MIN_SHIFT, 64 - Long.numberOfLeadingZeros(Math.max(1, capacity) - 1));
    }

    /** A buffer of exactly {@code capacity} bytes (writer index 0), aligned to {@link #ALIGNMENT}. */
    public ByteBuf allocate(int capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity " + capacity + " (expected: >= 0)");
        }
        int shift = shiftOf(capacity);
        if (shift > MAX_SHIFT) {
            // Larger than any class: allocated and freed each time.
            Block b = newBlock((capacity + ALIGNMENT - 1) & -ALIGNMENT);
            outstanding.increment();
            return new AlignedByteBuf(this, null, b, capacity);
        }
        SizeClass c = classes[shift - MIN_SHIFT];
        Block block = c.free.poll();
        if (block != null) {
            idleBytes.addAndGet(-block.footprint());
        } else {
            block = newBlock(c.size);
        }
        outstanding.increment();
        return new AlignedByteBuf(this, c, block, capacity);
    }

    /** Buffers handed out and not yet released (a leak check for tests and diagnostics). */
    public long outstanding() {
        return outstanding.sum();
    }

    /** Direct memory held by this pool now: buffers handed out and idle blocks. */
    public long allocatedBytes() {
        return allocatedBytes.get();
    }

    /** Direct memory of idle blocks kept for reuse. */
    public long idleBytes() {
        return idleBytes.get();
    }

    /** The most idle memory this pool keeps. */
    public long maxIdleBytes() {
        return maxIdleBytes;
    }

    private Block newBlock(int size) {
        int rounded = (size + ALIGNMENT - 1) & -ALIGNMENT;
        Block b;
        if (PlatformDependent.canReliabilyFreeDirectBuffers()) {
            CleanableDirectBuffer raw = PlatformDependent.allocateDirect(rounded + ALIGNMENT);
            b = new Block(raw.buffer().alignedSlice(ALIGNMENT).limit(size).slice(), raw, rounded + ALIGNMENT);
        } else {
            b = new Block(ByteBuffer.allocateDirect(rounded + ALIGNMENT).alignedSlice(ALIGNMENT).limit(size).slice(),
                    null, rounded + ALIGNMENT);
        }
        allocatedBytes.addAndGet(b.footprint());
        return b;
    }

    private void recycle(SizeClass owner, Block b) {
        if (owner != null && idleBytes.addAndGet(b.footprint()) <= maxIdleBytes) {
            owner.free.offer(b);
            return;
        }
        if (owner != null) {
            idleBytes.addAndGet(-b.footprint());
        }
        allocatedBytes.addAndGet(-b.footprint());
        if (b.raw() != null) {
            b.raw().clean();
        }
    }

    /** Aligned memory and, where Netty can free it explicitly, the allocation that owns it. */
    private record Block(ByteBuffer memory, CleanableDirectBuffer raw, long footprint) {}

    private static final class SizeClass {
        final int size;
        final ConcurrentLinkedQueue<Block> free = new ConcurrentLinkedQueue<>();

        SizeClass(int size) {
            this.size = size;
        }
    }

    /** A fixed-capacity direct ByteBuf over a pooled aligned block. */
    private static final class AlignedByteBuf extends UnpooledDirectByteBuf {
        private final AlignedBufferPool pool;
        private final SizeClass owner;
        private Block block;

        AlignedByteBuf(AlignedBufferPool pool, SizeClass owner, Block block, int capacity) {
            super(UnpooledByteBufAllocator.DEFAULT, block.memory().duplicate().clear().limit(capacity).slice(), capacity);
            this.pool = pool;
            this.owner = owner;
            this.block = block;
            writerIndex(0);
        }

        @Override
        protected void deallocate() {
            super.deallocate();
            Block b = block;
            block = null;
            if (b != null) {
                pool.outstanding.decrement();
                pool.recycle(owner, b);
            }
        }
    }
}
