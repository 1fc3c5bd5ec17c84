package io.clustermd.dlm.spi;

import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.Lockspace;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;

/** What every backend's lockspace shares: its name, deadline, scheduler and closed/fenced state. */
public abstract class AbstractLockspace implements Lockspace {
    private final String name;
    private final Duration defaultTimeout;
    private volatile String deadReason;
    private volatile boolean fenced;
    private final java.util.concurrent.atomic.AtomicLong requests = new java.util.concurrent.atomic.AtomicLong();

    protected AbstractLockspace(String name, Duration defaultTimeout) {
        this.name = Names.lockspace(name);
        if (defaultTimeout == null || defaultTimeout.isNegative() || defaultTimeout.isZero()) {
            throw new IllegalArgumentException("default timeout must be positive, got " + defaultTimeout);
        }
        this.defaultTimeout = defaultTimeout;
    }

    /** The manager this lockspace belongs to. */
    public abstract LockManager manager();

    @Override
    public final Set<LockFlag> supportedFlags() {
        return manager().supportedFlags();
    }

    /** Where deadlines are scheduled. */
    public abstract ScheduledExecutorService scheduler();

    @Override
    public String name() {
        return name;
    }

    @Override
    public Duration defaultTimeout() {
        return defaultTimeout;
    }

    @Override
    public long requestsSent() {
        return requests.get();
    }

    /** A lock, convert or unlock request is being sent. */
    private volatile RequestObserver observer;

    @Override
    public void observeRequests(RequestObserver observer) {
        this.observer = observer;
    }

    /** A request sent at {@code sentNanos} completed with {@code status}. */
    void requestCompleted(io.clustermd.dlm.LockStatus status, long sentNanos) {
        RequestObserver o = observer;
        if (o != null && sentNanos != 0) {
            try {
                o.completed(status, System.nanoTime() - sentNanos);
            } catch (RuntimeException e) {
                // metrics must never break lock completions
            }
        }
    }

    void countRequest() {
        requests.incrementAndGet();
    }

    /** Marks the lockspace unusable; later calls throw with {@code reason}. */
    protected void markDead(String reason, boolean fencedNode) {
        this.fenced = fencedNode;
        this.deadReason = reason;
    }

    /** True once closed or fenced. */
    public boolean isDead() {
        return deadReason != null;
    }

    /** Throws if the lockspace was closed or its node fenced. */
    public void checkUsable() {
        String reason = deadReason;
        if (reason != null) {
            if (fenced) {
                throw new FencedException("lockspace '" + name + "' is gone: " + reason
                        + "; open it again after the lock manager has rejoined");
            }
            throw new IllegalStateException("lockspace '" + name + "' is " + reason);
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + name + "]";
    }
}
