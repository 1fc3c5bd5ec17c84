package io.clustermd.dlm.local;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.rules.DlmResource;
import io.clustermd.dlm.rules.LockEntry;
import io.clustermd.dlm.spi.AbstractLockHandle;

/** A lock of the {@code local} backend: every operation is one atomic step of the cluster's state. */
final class LocalLockHandle extends AbstractLockHandle {
    private final LocalLockManager manager;
    private final LockEntry entry;

    LocalLockHandle(LocalLockspace ls, LocalLockManager manager, String resource, long lockId,
                    BlockingCallback blocking) {
        super(ls, resource, lockId, blocking);
        this.manager = manager;
        this.entry = new LockEntry(manager.nodeId(), lockId);
    }

    @Override
    protected void sendLock(Op op) {
        byte[][] lvb = new byte[1][];
        boolean[] invalid = new boolean[1];
        DlmResource.Outcome outcome = manager.cluster.mutate(lockspace.name(), resource, (r, events) -> {
            DlmResource.Outcome o = op.kind == Kind.REQUEST
                    ? r.request(entry, op.mode, op.flagBits, op.seq, events)
                    : r.convert(entry, op.mode, op.flagBits, op.lvbIn, op.seq, events);
            lvb[0] = entry.lvbOut;
            invalid[0] = entry.lvbOutInvalid;
            return o;
        });
        switch (outcome) {
            case GRANTED -> later(op, LockStatus.GRANTED, lvb[0], invalid[0]);
            case NOT_GRANTED -> later(op, LockStatus.NOT_GRANTED, null, false);
            case DEADLOCK -> later(op, LockStatus.DEADLOCK, null, false);
            default -> { } // queued: the grant arrives as an event
        }
    }

    @Override
    protected void sendUnlock(Op op) {
        manager.cluster.mutate(lockspace.name(), resource, (r, events) -> r.unlock(entry, op.flagBits, op.lvbIn, events));
        later(op, LockStatus.UNLOCKED, null, false);
    }

    @Override
    protected void sendCancel(Op op) {
        lockspace.checkUsable();
        DlmResource.Outcome outcome = manager.cluster.mutate(lockspace.name(), resource, (r, events) ->
                r.find(entry.owner, entry.lockId) == null ? DlmResource.Outcome.NOT_PENDING : r.cancel(entry, events));
        if (outcome == DlmResource.Outcome.CANCELLED) {
            later(op, LockStatus.CANCELLED, null, false);
        }
    }

    private void later(Op op, LockStatus status, byte[] lvb, boolean invalid) {
        manager.events.execute(() -> complete(op, status, lvb, invalid));
    }
}
