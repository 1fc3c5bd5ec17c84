package io.clustermd.dlm.local;

import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagerListener;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.spi.AbstractLockHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One node of a {@link LocalLockCluster}: the {@code local} backend of {@link LockManager}.
 * Counterpart of a process using libdlm against the kernel DLM, without the kernel.
 */
public final class LocalLockManager implements LockManager {
    private static final Logger LOG = LoggerFactory.getLogger(LocalLockManager.class);
    private static final Set<LockFlag> SUPPORTED = EnumSet.of(LockFlag.NOQUEUE, LockFlag.CONVERT, LockFlag.VALBLK,
            LockFlag.QUECVT, LockFlag.IVVALBLK, LockFlag.EXPEDITE, LockFlag.NOQUEUEBAST);

    final LocalLockCluster cluster;
    private final String nodeId;
    final Executor events;
    final Map<Long, LocalLockHandle> handles = new ConcurrentHashMap<>();
    private final Map<String, LocalLockspace> lockspaces = new ConcurrentHashMap<>();
    private final List<LockManagerListener> listeners = new CopyOnWriteArrayList<>();
    final AtomicLong lockIds = new AtomicLong();
    private volatile String deadReason;

    LocalLockManager(LocalLockCluster cluster, String nodeId, Executor events) {
        this.cluster = cluster;
        this.nodeId = nodeId;
        this.events = events;
    }

    @Override
    public String backend() {
        return "local";
    }

    @Override
    public String nodeId() {
        return nodeId;
    }

    @Override
    public Set<LockFlag> supportedFlags() {
        return SUPPORTED;
    }

    @Override
    public boolean reportsBlockingMode() {
        return true;
    }

    @Override
    public Lockspace openLockspace(String name, Duration defaultTimeout) {
        checkAlive();
        LocalLockspace ls = new LocalLockspace(this, name, defaultTimeout);
        if (lockspaces.putIfAbsent(name, ls) != null) {
            throw new IllegalStateException("lockspace '" + name + "' is already open on node " + nodeId
                    + "; use the open Lockspace or close it first");
        }
        return ls;
    }

    @Override
    public void addListener(LockManagerListener listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        if (deadReason != null) {
            return;
        }
        for (LocalLockspace ls : new ArrayList<>(lockspaces.values())) {
            ls.close();
        }
        deadReason = "closed";
        cluster.removeNode(this, false);
    }

    void lockspaceClosed(LocalLockspace ls) {
        lockspaces.remove(ls.name(), ls);
    }

    private void checkAlive() {
        String reason = deadReason;
        if (reason != null) {
            throw new FencedException("lock manager node " + nodeId + " is " + reason);
        }
    }

    boolean isDead() {
        return deadReason != null;
    }

    /** The node died or was cut off: every lock is lost; a fenced node is told first. */
    void markDead(String reason, boolean fenced) {
        deadReason = reason;
        for (LocalLockspace ls : lockspaces.values()) {
            ls.markGone(reason, fenced);
        }
        events.execute(() -> {
            if (fenced) {
                for (LockManagerListener l : listeners) {
                    try {
                        l.selfFenced(reason);
                    } catch (RuntimeException e) {
                        LOG.error("selfFenced listener threw", e);
                    }
                }
            }
            FencedException cause = new FencedException("node " + nodeId + ": " + reason);
            for (LocalLockHandle h : handles.values()) {
                h.lost(cause);
            }
        });
    }

    void deliverGrant(long lockId, long seq, byte[] lvb, boolean invalid) {
        LocalLockHandle h = handles.get(lockId);
        if (h == null || isDead()) {
            return;
        }
        events.execute(() -> {
            AbstractLockHandle.Op op = h.pendingOp();
            if (op != null && op.seq == seq) {
                h.complete(op, LockStatus.GRANTED, lvb, invalid);
            }
        });
    }

    void deliverBlocking(long lockId, LockMode mode) {
        LocalLockHandle h = handles.get(lockId);
        if (h == null || isDead()) {
            return;
        }
        events.execute(() -> h.deliverBlocking(mode));
    }

    void nodeLeft(String node, boolean failed) {
        if (isDead()) {
            return;
        }
        events.execute(() -> {
            for (LockManagerListener l : listeners) {
                try {
                    l.nodeLeft(node, failed);
                } catch (RuntimeException e) {
                    LOG.error("nodeLeft listener threw", e);
                }
            }
        });
    }

    @Override
    public String toString() {
        return "LocalLockManager[" + nodeId + "]";
    }
}
