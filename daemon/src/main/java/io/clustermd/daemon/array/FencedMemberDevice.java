package io.clustermd.daemon.array;

import io.clustermd.md.io.ForwardingMemberDevice;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberIoException;
import io.clustermd.md.io.MemberOp;

import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A member of a clustered array that stops taking I/O the moment this node is fenced (it lost its
 * lock manager, so another node is about to recover its slot and must be the only one writing):
 * from then on every operation fails as on a closed device, which the array does not count as a
 * member failure, and the NBD client gets an error instead of a hang.
 */
public final class FencedMemberDevice extends ForwardingMemberDevice {

    private final Supplier<String> fencedBecause;

    /** @param fencedBecause null while this node may write, else why it may not */
    public FencedMemberDevice(MemberDevice inner, Supplier<String> fencedBecause) {
        super(inner);
        this.fencedBecause = fencedBecause;
    }

    @Override
    protected CompletableFuture<Void> intercept(MemberOp op, long offset, long length) {
        String why = fencedBecause.get();
        if (why == null) {
            return null;
        }
        return CompletableFuture.failedFuture(new MemberIoException(delegate.name(), op, offset, length,
                MemberIoException.Reason.CLOSED, "this node is fenced (" + why + ")", null));
    }
}
