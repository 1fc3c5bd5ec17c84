package io.clustermd.dlm.zookeeper;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.spi.AbstractLockspace;
import io.clustermd.dlm.spi.Names;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;

/** A lockspace of the {@code zookeeper} backend: the znode {@code /ls/<name>}. */
final class ZkLockspace extends AbstractLockspace {
    private final ZkLockManager manager;
    final ZkLockManager.Incarnation incarnation;
    private final Map<String, List<ZkLockHandle>> handles = new ConcurrentHashMap<>();

    ZkLockspace(ZkLockManager manager, String name, Duration defaultTimeout, ZkLockManager.Incarnation incarnation) {
        super(name, defaultTimeout);
        this.manager = manager;
        this.incarnation = incarnation;
    }

    @Override
    public LockManager manager() {
        return manager;
    }

    @Override
    public ScheduledExecutorService scheduler() {
        return manager.scheduler();
    }

    String path() {
        return ZkLockManager.LOCKSPACES + "/" + name();
    }

    String path(String resource) {
        return path() + "/" + ZkLockManager.encodeResource(resource);
    }

    @Override
    public LockHandle newLock(String resource, BlockingCallback blocking) {
        Names.resource(resource);
        checkUsable();
        ZkLockHandle h = new ZkLockHandle(this, manager, resource, manager.lockIds.incrementAndGet(), blocking);
        boolean[] first = new boolean[1];
        handles.computeIfAbsent(resource, k -> {
            first[0] = true;
            return new CopyOnWriteArrayList<>();
        }).add(h);
        if (first[0]) {
            manager.watchResource(this, resource);
        }
        return h;
    }

    boolean hasHandles(String resource) {
        List<ZkLockHandle> l = handles.get(resource);
        return l != null && !l.isEmpty();
    }

    List<ZkLockHandle> handles(String resource) {
        List<ZkLockHandle> l = handles.get(resource);
        return l == null ? List.of() : l;
    }

    Set<String> resourcesWithHandles() {
        return handles.keySet();
    }

    @Override
    public void close() {
        if (isDead()) {
            return;
        }
        markDead("closed", false);
        try {
            manager.closeLockspace(this);
        } finally {
            IllegalStateException cause = new IllegalStateException("lockspace '" + name() + "' was closed");
            manager.events.execute(() -> failAll(cause));
        }
    }

    void markFenced(String reason) {
        markDead(reason, true);
    }

    void failAll(Throwable cause) {
        List<ZkLockHandle> all = new ArrayList<>();
        handles.values().forEach(all::addAll);
        all.forEach(h -> h.lost(cause));
    }
}
