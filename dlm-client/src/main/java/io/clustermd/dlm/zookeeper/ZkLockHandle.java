package io.clustermd.dlm.zookeeper;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.spi.AbstractLockHandle;

/** A lock of the {@code zookeeper} backend; its operations run on the manager's I/O thread, in order. */
final class ZkLockHandle extends AbstractLockHandle {
    private final ZkLockManager manager;
    private final ZkLockspace ls;
    /** Blocking callbacks already delivered (I/O thread only). */
    int lastBastSeq;

    ZkLockHandle(ZkLockspace ls, ZkLockManager manager, String resource, long lockId, BlockingCallback blocking) {
        super(ls, resource, lockId, blocking);
        this.manager = manager;
        this.ls = ls;
    }

    @Override
    protected void sendLock(Op op) {
        manager.sendLock(ls, this, op);
    }

    @Override
    protected void sendUnlock(Op op) {
        manager.sendUnlock(ls, this, op);
    }

    @Override
    protected void sendCancel(Op op) {
        manager.sendCancel(ls, this, op);
    }
}
