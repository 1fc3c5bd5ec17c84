package io.clustermd.dlm.local;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.spi.AbstractLockspace;
import io.clustermd.dlm.spi.Names;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;

/** A lockspace of the {@code local} backend. */
final class LocalLockspace extends AbstractLockspace {
    private final LocalLockManager manager;
    private final List<LocalLockHandle> handles = new CopyOnWriteArrayList<>();

    LocalLockspace(LocalLockManager manager, String name, Duration defaultTimeout) {
        super(name, defaultTimeout);
        this.manager = manager;
    }

    @Override
    public LockManager manager() {
        return manager;
    }

    @Override
    public ScheduledExecutorService scheduler() {
        return manager.cluster.scheduler();
    }

    @Override
    public LockHandle newLock(String resource, BlockingCallback blocking) {
        Names.resource(resource);
        checkUsable();
        LocalLockHandle h = new LocalLockHandle(this, manager, resource, manager.lockIds.incrementAndGet(), blocking);
        handles.add(h);
        manager.handles.put(h.lockId(), h);
        return h;
    }

    @Override
    public void close() {
        if (isDead()) {
            return;
        }
        markDead("closed", false);
        manager.cluster.purgeLockspace(name(), manager.nodeId());
        IllegalStateException cause = new IllegalStateException("lockspace '" + name() + "' was closed");
        List<LocalLockHandle> all = new ArrayList<>(handles);
        manager.events.execute(() -> all.forEach(h -> h.lost(cause)));
        for (LocalLockHandle h : all) {
            manager.handles.remove(h.lockId());
        }
        manager.lockspaceClosed(this);
    }

    void markGone(String reason, boolean fenced) {
        markDead(reason, fenced);
    }

    static FencedException fenced(String why) {
        return new FencedException(why);
    }
}
