package io.clustermd.md.array;

import io.clustermd.md.io.AlignedBuffers;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;

/**
 * The data movement of a sync: md's raid1 {@code sync_request} with its {@code end_sync_read} and
 * {@code end_sync_write} (copy from the first in-sync copy to the others) and {@code
 * process_checks} (compare, and for repair rewrite), window by window under the
 * {@link SyncBarrier}, paced by the {@link SyncThrottle}. Used by the sync thread only.
 */
final class SyncCopier {

    /** The size of one read (and its writes) of a sync copy. */
    static final int IO_PIECE = 1 << 20;

    private final MdArray array;
    private final SyncWaits waits;
    private final SyncThrottle throttle;
    /** Waits until the throttle admits so many bytes; throws {@link SyncWaits.Abandoned} on stop. */
    private final LongConsumer admit;
    /** Reused copy buffers. */
    private final ArrayDeque<ByteBuffer> copyBuffers = new ArrayDeque<>();

    SyncCopier(MdArray array, SyncWaits waits, SyncThrottle throttle, LongConsumer admit) {
        this.array = array;
        this.waits = waits;
        this.throttle = throttle;
        this.admit = admit;
    }

    /**
     * Copies {@code [from, to)} of the array from the first readable copy to the other writable
     * copies ({@code only}: to that member alone), window by window under the barrier; reports
     * every window's bytes to {@code advanced}.
     *
     * @throws SyncWaits.Abandoned when a stop is requested (the current window is not counted)
     */
    boolean copyRange(long from, long to, ArrayMember only, LongConsumer advanced) {
        boolean ok = true;
        for (long pos = from; pos < to; ) {
            long start = pos;
            long end = Math.min(to, start + throttle.windowBytes());
            admit.accept(end - start);
            ok &= underBarrier(start, end, () -> {
                boolean copied = true;
                for (Personality.Piece piece : array.personality().map(start, end - start)) {
                    copied &= copyPiece(piece, only);
                }
                return copied;
            });
            advanced.accept(end - start);
            pos = end;
        }
        return ok;
    }

    private interface WindowWork {
        boolean run();
    }

    /** Raises the window, waits (visibly) for the writes in it to drain, runs {@code work}, lowers. */
    private boolean underBarrier(long from, long end, WindowWork work) {
        CompletableFuture<Void> ready = array.barrier().raise(from, end - from);
        try {
            waits.await(ready, () -> array.barrier().writesBlockingWindow()
                    + " foreground write(s) in flight in the sync window at byte " + from);
            return work.run();
        } finally {
            array.barrier().lower();
        }
    }

    private boolean copyPiece(Personality.Piece piece, ArrayMember only) {
        ArrayMember source = null;
        long sourceOffset = 0;
        List<ArrayMember> targets = new ArrayList<>();
        List<Long> targetOffsets = new ArrayList<>();
        for (Personality.Extent e : piece.copies()) {
            ArrayMember m = array.slotMember(e.slot());
            if (m == null) {
                continue;
            }
            if (source == null && m.state == MemberState.IN_SYNC && m != only) {
                source = m;
                sourceOffset = e.memberOffset();
            } else if (m.writable() && (only == null || m == only)) {
                targets.add(m);
                targetOffsets.add(e.memberOffset());
            }
        }
        if (source == null || targets.isEmpty()) {
            return source != null;
        }
        // 1. Every piece of IO_PIECE bytes is read at once; 2. each piece goes to the targets as
        // soon as its read is in; 3. all reads and writes are waited for before the window is
        // lowered. Reads and writes of the window overlap, so the copy is not one read, then one
        // write, at a time.
        ArrayMember src = source;
        long length = piece.length();
        List<CompletableFuture<Void>> reads = new ArrayList<>();
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        List<ByteBuffer> used = new ArrayList<>();
        Set<ArrayMember> failed = ConcurrentHashMap.newKeySet();
        for (long off = 0; off < length; off += IO_PIECE) {
            ByteBuffer buf = takeBuffer().limit((int) Math.min(IO_PIECE, length - off));
            used.add(buf);
            CompletableFuture<Void> read = src.device.read(buf, src.dataOffsetBytes() + sourceOffset + off);   // 1.
            reads.add(read);
            for (int i = 0; i < targets.size(); i++) {
                ArrayMember t = targets.get(i);
                long at = t.dataOffsetBytes() + targetOffsets.get(i) + off;
                writes.add(read.thenCompose(v -> t.device.write(buf.duplicate(), at, false))        // 2.
                        .handle((v, e) -> {
                            if (e != null && !read.isCompletedExceptionally()) {
                                failed.add(t);   // the write failed, not the read before it
                            }
                            return null;
                        }));
            }
        }
        boolean readFailed = false;
        for (CompletableFuture<Void> read : reads) {                                                // 3.
            try {
                waits.await(read, () -> "a read from " + src.name());
            } catch (CompletionException e) {
                readFailed = true;
            }
        }
        for (CompletableFuture<Void> write : writes) {
            waits.await(write, () -> "a write to " + targets.stream().map(ArrayMember::name).toList());
        }
        used.forEach(this::giveBuffer);   // every I/O on them is over (an abandoned wait leaves them to the GC)
        if (readFailed) {
            waits.await(array.failMembers(List.of(src), "read error during sync"),
                    () -> "the superblock update that fails " + src.name());
            return false;
        }
        if (!failed.isEmpty()) {
            List<ArrayMember> failedList = List.copyOf(failed);
            waits.await(array.failMembers(failedList, "write error during sync"),
                    () -> "the superblock update that fails " + failedList.stream().map(ArrayMember::name).toList());
        }
        return failed.isEmpty();
    }

    /**
     * A sync copy buffer of {@link #IO_PIECE} bytes, aligned for O_DIRECT on any member. At most a
     * window's worth ({@code SyncEngine.WINDOW / IO_PIECE}) is kept for reuse: a fresh direct buffer
     * per read would be zeroed by the JVM and freed only by the garbage collector, which at a
     * gigabyte a second costs more than the copy.
     */
    private ByteBuffer takeBuffer() {
        ByteBuffer b = copyBuffers.poll();
        return b != null ? b.clear() : AlignedBuffers.allocate(IO_PIECE, AlignedBuffers.MIN_ALIGNMENT);
    }

    private void giveBuffer(ByteBuffer b) {
        if (copyBuffers.size() < SyncEngine.WINDOW / IO_PIECE) {
            copyBuffers.push(b);
        }
    }

    long compareRange(long from, long to, boolean repair) {
        admit.accept(to - from);
        long[] found = {0};
        underBarrier(from, to, () -> {
            for (Personality.Piece piece : array.personality().map(from, to - from)) {
                found[0] += comparePiece(piece, repair);
            }
            return true;
        });
        return found[0];
    }

    private long comparePiece(Personality.Piece piece, boolean repair) {
        List<ArrayMember> copies = new ArrayList<>();
        List<ByteBuffer> data = new ArrayList<>();
        List<Long> offsets = new ArrayList<>();
        for (Personality.Extent e : piece.copies()) {
            ArrayMember m = array.slotMember(e.slot());
            if (m == null || m.state != MemberState.IN_SYNC) {
                continue;
            }
            ByteBuffer buf = m.device.allocate((int) piece.length());
            waits.await(m.device.read(buf, m.dataOffsetBytes() + e.memberOffset()), () -> "a read from " + m.name());
            copies.add(m);
            data.add(buf);
            offsets.add(e.memberOffset());
        }
        long found = 0;
        for (int i = 1; i < copies.size(); i++) {
            long differing = differingSectors(data.get(0), data.get(i), piece.arrayOffset());
            found += differing;
            if (repair && differing > 0) {
                ArrayMember m = copies.get(i);
                waits.await(m.device.write(data.get(0).duplicate(), m.dataOffsetBytes() + offsets.get(i), false),
                        () -> "a repair write to " + m.name());
            }
        }
        return found;
    }

    /**
     * md's sync request size ({@code RESYNC_BLOCK_SIZE}, 64 KiB): a check reads, compares and counts
     * that much at a time, at array offsets that are multiples of it (raid10: and within a chunk).
     */
    static final int MD_SYNC_BLOCK = 64 * 1024;

    /**
     * md's {@code mismatch_cnt} for one piece at {@code arrayOffset}: every sync request (64 KiB,
     * aligned in the array, cut at the piece's ends) in which the copies differ at all counts all
     * its sectors, as raid1's {@code process_checks} and raid10's {@code sync_request_write} add the
     * whole request's sectors.
     */
    static long differingSectors(ByteBuffer a, ByteBuffer b, long arrayOffset) {
        long sectors = 0;
        int len = Math.min(a.remaining(), b.remaining());
        for (int off = 0; off < len; ) {
            long at = arrayOffset + off;
            int n = (int) Math.min(len - off, MD_SYNC_BLOCK - at % MD_SYNC_BLOCK);
            if (a.slice(a.position() + off, n).mismatch(b.slice(b.position() + off, n)) >= 0) {
                sectors += (n + 511) / 512;
            }
            off += n;
        }
        return sectors;
    }
}
