package io.clustermd.md.array;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * The array's write path (md {@code raid1_write_request} / {@code raid10_write_request}) for writes,
 * write-zeroes and trims:
 * <ol start="0">
 * <li>wait for every earlier write on this node whose range overlaps (md's {@code serialize_policy},
 *     always on; {@link WriteOrdering});</li>
 * <li>wait while another node suspends the range;</li>
 * <li>wait while a resync window covers it ({@link SyncBarrier});</li>
 * <li>record the range in the bitmap, durably, before any data is written;</li>
 * <li>write every copy in parallel;</li>
 * <li>members that failed are marked faulty and the superblocks saying so are written;</li>
 * <li>tell the bitmap the write ended, leave the barrier;</li>
 * <li>let the next overlapping write go, and reply (success if every piece reached at least one member).</li>
 * </ol>
 * The order is fixed at step 0, on arrival, ahead of every step that can wait: a write held at step 0
 * holds nothing else (no barrier token, no bitmap counter), so a resync window, a suspended range or a
 * stop never waits for it, and it waits only for writes that arrived earlier, which never wait for it.
 * A request is counted in flight ({@link MdArray}'s {@code tracked}) before it reaches step 0, so a
 * stop drains the writes queued there too; one that starts only after the stop gave up waiting fails
 * as a stopped array's requests do. A write that fails, at any step, lets the next one go all the same.
 */
final class WritePath {

    private static final System.Logger LOG = System.getLogger(MdArray.class.getName());

    private final MdArray array;
    private final WriteOrdering ordering = new WriteOrdering();

    WritePath(MdArray array) {
        this.array = array;
    }

    /** One copy of one piece to one member. */
    interface CopyOp {
        CompletableFuture<Void> apply(ArrayMember member, Personality.Piece piece, long memberOffset);
    }

    /** {@code src.remaining()} bytes at {@code offset}; {@code fua}: durable on every member on completion. */
    CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        long length = src.remaining();
        return ordered(offset, length, (m, piece, memberOffset) -> m.device.write(
                src.slice(src.position() + (int) (piece.arrayOffset() - offset), (int) piece.length()),
                memberOffset, fua));
    }

    /** The range reads as zeroes afterwards on every member (WRITE_ZEROES, and TRIM: see {@link MdArray#trim}). */
    CompletableFuture<Void> writeZeroes(long offset, long length) {
        return ordered(offset, length, (m, piece, memberOffset) -> m.device.writeZeroes(memberOffset, piece.length()));
    }

    private CompletableFuture<Void> ordered(long offset, long length, CopyOp op) {
        // A write queued behind one that outlived stop's drain starts after the members were closed: it
        // fails as a stopped array's requests do (ESHUTDOWN to the client), not as a member error.
        return ordering.submit(offset, length, () -> array.stopped()
                ? CompletableFuture.failedFuture(ArrayIoException.stopping())
                : guarded(offset, length, pieces -> writeCopies(pieces, offset, op)));
    }

    /**
     * Steps 2-3: past every other node's resync window, then inside the barrier. The windows are
     * looked at again once the write holds its barrier token: a window announced between the two
     * steps waits for the writes in the barrier ({@link SyncBarrier#drained}) and this one is one
     * of them, or it sees the window and steps back out until the window moves on.
     */
    private CompletableFuture<long[]> admitted(long offset, long length) {
        SyncBarrier barrier = array.barrier();
        return array.cluster().awaitWritable(offset, length)
                .thenCompose(v -> barrier.enter(offset, length))
                .thenCompose(token -> {
                    CompletableFuture<Void> again = array.cluster().awaitWritable(offset, length);
                    if (again.isDone() && !again.isCompletedExceptionally()) {
                        return CompletableFuture.completedFuture(token);
                    }
                    barrier.exit(token);
                    return again.thenCompose(v -> admitted(offset, length));
                });
    }

    /** Steps 1-3 and 6 around {@code body} (steps 4-5). */
    private CompletableFuture<Void> guarded(long offset, long length,
                                            Function<List<Personality.Piece>, CompletableFuture<Boolean>> body) {
        BitmapOps bitmap = array.bitmap();
        SyncBarrier barrier = array.barrier();
        return admitted(offset, length)
                .thenCompose(token -> bitmap.startWrite(offset, length)
                        .thenCompose(v -> body.apply(array.personality().map(offset, length)))
                        .handle((allCopies, error) -> {
                            bitmap.endWrite(offset, length, error == null && allCopies, array.degraded());
                            barrier.exit(token);
                            if (error != null) {
                                throw error instanceof CompletionException ce ? ce : new CompletionException(error);
                            }
                            return (Void) null;
                        }));
    }

    /**
     * Steps 4-5: every copy of every piece in parallel; failed members are failed (superblocks
     * written) before completion. Completes with true when every copy succeeded, fails when some
     * piece reached no member.
     */
    private CompletableFuture<Boolean> writeCopies(List<Personality.Piece> pieces, long offset, CopyOp op) {
        List<CompletableFuture<Boolean>> results = new ArrayList<>();
        // Members that refused the write without a disk fault (closed, or this node fenced): not failed.
        java.util.Set<ArrayMember> refused = java.util.concurrent.ConcurrentHashMap.newKeySet();
        List<ArrayMember> targets = new ArrayList<>();
        List<Integer> pieceOf = new ArrayList<>();
        for (int p = 0; p < pieces.size(); p++) {
            Personality.Piece piece = pieces.get(p);
            for (Personality.Extent e : piece.copies()) {
                ArrayMember m = array.slotForIo(e.slot());
                if (m == null || !m.writable()) {
                    continue;
                }
                m.pending.incrementAndGet();
                results.add(op.apply(m, piece, m.dataOffsetBytes() + e.memberOffset()).handle((v, err) -> {
                    m.pending.decrementAndGet();
                    if (err != null) {
                        LOG.log(System.Logger.Level.WARNING, "{0}: write failed: {1}", m.name(),
                                MdArray.rootMessage(err));
                        if (MdArray.refusedNotFailed(err)) {
                            refused.add(m);
                        }
                    }
                    return err == null;
                }));
                targets.add(m);
                pieceOf.add(p);
            }
        }
        return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).thenCompose(v -> {
            boolean[] pieceWritten = new boolean[pieces.size()];
            List<ArrayMember> failed = new ArrayList<>();
            for (int i = 0; i < results.size(); i++) {
                if (results.get(i).join()) {
                    pieceWritten[pieceOf.get(i)] = true;
                } else if (!failed.contains(targets.get(i)) && !refused.contains(targets.get(i))) {
                    failed.add(targets.get(i));
                }
            }
            CompletableFuture<Void> failing = failed.isEmpty() ? CompletableFuture.completedFuture(null)
                    : array.failMembers(failed, "write error");
            return failing.thenApply(x -> {
                for (boolean w : pieceWritten) {
                    if (!w) {
                        throw new CompletionException(new ArrayIoException(
                                "write at array offset " + offset + " reached no member", null));
                    }
                }
                return failed.isEmpty();
            });
        });
    }
}
