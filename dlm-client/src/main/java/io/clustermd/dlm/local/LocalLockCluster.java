package io.clustermd.dlm.local;

import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.rules.DlmResource;
import io.clustermd.dlm.rules.LockEntry;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The in-process lock manager: one "cluster" whose nodes are {@link LocalLockManager}s in the
 * same JVM, with the exact DLM rules of {@link DlmResource}. It plays the part of the kernel DLM
 * plus dlm_controld for the in-process mini cluster and simulation tests: {@link #crash} is a node
 * dying (its locks go after the fencing grace, LVBs it held PW/EX become VALNOTVALID),
 * {@link #isolate} a node cut off (it is told {@code selfFenced} first).
 *
 * <p>Deterministic when given a manual scheduler and direct executors: every state change
 * happens under one monitor; every event of a node is delivered in order on that node's executor.
 */
public final class LocalLockCluster implements AutoCloseable {

    private final Object mutex = new Object();
    private final Map<String, Map<String, DlmResource>> lockspaces = new HashMap<>();
    private final Map<String, LocalLockManager> nodes = new LinkedHashMap<>();
    private final ScheduledExecutorService scheduler;
    private final boolean ownScheduler;
    private final Function<String, Executor> eventExecutors;
    private final Duration fencingGrace;
    private final List<ExecutorService> ownExecutors = new ArrayList<>();

    /**
     * @param scheduler deadlines and fencing delays; {@code null} for a private daemon thread
     * @param eventExecutors the event thread of a node, by node name; {@code null} for one
     *     single-thread executor per node
     * @param fencingGrace how long after a node dies its locks are released
     */
    public LocalLockCluster(ScheduledExecutorService scheduler, Function<String, Executor> eventExecutors,
                            Duration fencingGrace) {
        if (fencingGrace == null || fencingGrace.isNegative()) {
            throw new IllegalArgumentException("fencing grace must be zero or positive, got " + fencingGrace);
        }
        this.ownScheduler = scheduler == null;
        this.scheduler = scheduler != null ? scheduler : Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dlm-local-timer");
            t.setDaemon(true);
            return t;
        });
        this.eventExecutors = eventExecutors;
        this.fencingGrace = fencingGrace;
    }

    /** A cluster with its own threads and no fencing grace. */
    public LocalLockCluster() {
        this(null, null, Duration.ZERO);
    }

    /** Adds a node named {@code nodeName} (unique among live nodes). */
    public LocalLockManager join(String nodeName) {
        if (nodeName == null || nodeName.isBlank() || nodeName.length() > 64) {
            throw new IllegalArgumentException("node name must be 1..64 characters, got '" + nodeName + "'");
        }
        synchronized (mutex) {
            if (nodes.containsKey(nodeName)) {
                throw new IllegalStateException("node '" + nodeName + "' is already a member of this cluster; "
                        + "node names must be unique");
            }
            Executor events;
            if (eventExecutors != null) {
                events = eventExecutors.apply(nodeName);
            } else {
                ExecutorService es = Executors.newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "dlm-local-events-" + nodeName);
                    t.setDaemon(true);
                    return t;
                });
                ownExecutors.add(es);
                events = es;
            }
            LocalLockManager node = new LocalLockManager(this, nodeName, events);
            nodes.put(nodeName, node);
            return node;
        }
    }

    /**
     * The node's process dies: it gets no more events; after the fencing grace its locks are
     * removed (LVBs it held PW/EX marked invalid) and the others are told it left.
     */
    public void crash(LocalLockManager node) {
        node.markDead("its node crashed", false);
        scheduleRemoval(node);
    }

    /**
     * The node is cut off from the others: it is told {@code selfFenced} at once, then treated as
     * crashed (locks removed after the grace).
     */
    public void isolate(LocalLockManager node) {
        node.markDead("this node was cut off from the lock manager", true);
        scheduleRemoval(node);
    }

    private void scheduleRemoval(LocalLockManager node) {
        scheduler.schedule(() -> removeNode(node, true), fencingGrace.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Removes a node's locks and tells the others it left. */
    void removeNode(LocalLockManager node, boolean died) {
        List<Runnable> deliveries = new ArrayList<>();
        List<LocalLockManager> others;
        synchronized (mutex) {
            if (nodes.get(node.nodeId()) != node) {
                return;
            }
            for (Map<String, DlmResource> ls : lockspaces.values()) {
                for (DlmResource r : ls.values()) {
                    r.purge(owner -> owner.equals(node.nodeId()), died, collector(deliveries));
                }
            }
            nodes.remove(node.nodeId());
            others = new ArrayList<>(nodes.values());
        }
        deliveries.forEach(Runnable::run);
        for (LocalLockManager other : others) {
            other.nodeLeft(node.nodeId(), died);
        }
    }

    /** One state change of one resource, atomically; events are delivered after the monitor is released. */
    DlmResource.Outcome mutate(String lockspace, String resource, ResourceAction action) {
        List<Runnable> deliveries = new ArrayList<>();
        DlmResource.Outcome outcome;
        synchronized (mutex) {
            DlmResource r = lockspaces.computeIfAbsent(lockspace, k -> new HashMap<>())
                    .computeIfAbsent(resource, k -> new DlmResource());
            outcome = action.apply(r, collector(deliveries));
            if (r.isUnused() && r.lvb == null) {
                lockspaces.get(lockspace).remove(resource);
            }
        }
        deliveries.forEach(Runnable::run);
        return outcome;
    }

    /** Removes every lock of {@code owner} in {@code lockspace} (clean release of the lockspace). */
    void purgeLockspace(String lockspace, String owner) {
        List<Runnable> deliveries = new ArrayList<>();
        synchronized (mutex) {
            Map<String, DlmResource> ls = lockspaces.get(lockspace);
            if (ls != null) {
                Predicate<String> mine = owner::equals;
                for (DlmResource r : ls.values()) {
                    r.purge(mine, false, collector(deliveries));
                }
            }
        }
        deliveries.forEach(Runnable::run);
    }

    /** An operation on a resource under the monitor. */
    @FunctionalInterface
    interface ResourceAction {
        DlmResource.Outcome apply(DlmResource resource, DlmResource.Events events);
    }

    private DlmResource.Events collector(List<Runnable> deliveries) {
        return new DlmResource.Events() {
            @Override
            public void granted(LockEntry entry) {
                LocalLockManager owner = nodes.get(entry.owner);
                byte[] lvb = entry.lvbOut;
                boolean invalid = entry.lvbOutInvalid;
                long seq = entry.grantSeq;
                if (owner != null) {
                    deliveries.add(() -> owner.deliverGrant(entry.lockId, seq, lvb, invalid));
                }
            }

            @Override
            public void blocking(LockEntry entry, LockMode mode) {
                LocalLockManager owner = nodes.get(entry.owner);
                if (owner != null) {
                    deliveries.add(() -> owner.deliverBlocking(entry.lockId, mode));
                }
            }
        };
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    /** Node names currently in the cluster. */
    public List<String> members() {
        synchronized (mutex) {
            return new ArrayList<>(nodes.keySet());
        }
    }

    /** Closes every node cleanly and stops the threads this cluster made. */
    @Override
    public void close() {
        List<LocalLockManager> all;
        synchronized (mutex) {
            all = new ArrayList<>(nodes.values());
        }
        all.forEach(LocalLockManager::close);
        ownExecutors.forEach(ExecutorService::shutdown);
        if (ownScheduler) {
            scheduler.shutdownNow();
        }
    }
}
