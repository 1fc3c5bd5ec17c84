package io.clustermd.md.io;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A member device that passes every operation to another (md has no such layer; it is how the
 * daemon puts policies in front of a device: fault injection, fencing). A subclass either
 * answers an operation itself through {@link #intercept} or overrides the operation.
 */
public abstract class ForwardingMemberDevice implements MemberDevice {

    /** The device operations go to. */
    protected final MemberDevice delegate;

    protected ForwardingMemberDevice(MemberDevice delegate) {
        this.delegate = delegate;
    }

    /**
     * The answer to a data operation instead of the delegate's (a failed future), or null to pass
     * it on. Called before every read, write, flush, discard and write-zeroes.
     */
    protected CompletableFuture<Void> intercept(MemberOp op, long offset, long length) {
        return null;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public long sizeBytes() {
        return delegate.sizeBytes();
    }

    @Override
    public int alignment() {
        return delegate.alignment();
    }

    @Override
    public ByteBuffer allocate(int bytes) {
        return delegate.allocate(bytes);
    }

    @Override
    public CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        CompletableFuture<Void> f = intercept(MemberOp.READ, offset, dst.remaining());
        return f != null ? f : delegate.read(dst, offset);
    }

    @Override
    public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        CompletableFuture<Void> f = intercept(MemberOp.WRITE, offset, src.remaining());
        return f != null ? f : delegate.write(src, offset, fua);
    }

    @Override
    public CompletableFuture<Void> flush() {
        CompletableFuture<Void> f = intercept(MemberOp.FLUSH, 0, 0);
        return f != null ? f : delegate.flush();
    }

    @Override
    public CompletableFuture<Void> discard(long offset, long length) {
        CompletableFuture<Void> f = intercept(MemberOp.DISCARD, offset, length);
        return f != null ? f : delegate.discard(offset, length);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length) {
        CompletableFuture<Void> f = intercept(MemberOp.WRITE_ZEROES, offset, length);
        return f != null ? f : delegate.writeZeroes(offset, length);
    }

    @Override
    public MemberIoStats stats() {
        return delegate.stats();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
