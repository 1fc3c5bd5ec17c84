package io.clustermd.daemon.array;

import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberIoException;
import io.clustermd.md.io.MemberIoStats;
import io.clustermd.md.io.MemberOp;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A member of a clustered array that stops taking I/O the moment this node is fenced (it lost its
 * lock manager, so another node is about to recover its slot and must be the only one writing):
 * from then on every operation fails as on a closed device, which the array does not count as a
 * member failure, and the NBD client gets an error instead of a hang.
 */
public final class FencedMemberDevice implements MemberDevice {

    private final MemberDevice inner;
    private final Supplier<String> fencedBecause;

    /** @param fencedBecause null while this node may write, else why it may not */
    public FencedMemberDevice(MemberDevice inner, Supplier<String> fencedBecause) {
        this.inner = inner;
        this.fencedBecause = fencedBecause;
    }

    private <T> CompletableFuture<T> refuse(MemberOp op, long offset, long length) {
        String why = fencedBecause.get();
        if (why == null) {
            return null;
        }
        return CompletableFuture.failedFuture(new MemberIoException(inner.name(), op, offset, length,
                MemberIoException.Reason.CLOSED, "this node is fenced (" + why + ")", null));
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public long sizeBytes() {
        return inner.sizeBytes();
    }

    @Override
    public int alignment() {
        return inner.alignment();
    }

    @Override
    public ByteBuffer allocate(int bytes) {
        return inner.allocate(bytes);
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        CompletableFuture<Void> no = refuse(MemberOp.READ, offset, dst.remaining());
        return no != null ? no : inner.read(dst, offset);
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        CompletableFuture<Void> no = refuse(MemberOp.WRITE, offset, src.remaining());
        return no != null ? no : inner.write(src, offset, fua);
    }

    @Override
    public CompletableFuture<Void> flush() {
        CompletableFuture<Void> no = refuse(MemberOp.FLUSH, 0, 0);
        return no != null ? no : inner.flush();
    }

    @Override
    public CompletableFuture<Void> discard(long offset, long length) {
        CompletableFuture<Void> no = refuse(MemberOp.DISCARD, offset, length);
        return no != null ? no : inner.discard(offset, length);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length) {
        CompletableFuture<Void> no = refuse(MemberOp.WRITE_ZEROES, offset, length);
        return no != null ? no : inner.writeZeroes(offset, length);
    }

    @Override
    public MemberIoStats stats() {
        return inner.stats();
    }

    @Override
    public void close() {
        inner.close();
    }
}
