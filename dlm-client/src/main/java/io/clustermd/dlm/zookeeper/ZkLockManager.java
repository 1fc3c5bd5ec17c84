package io.clustermd.dlm.zookeeper;

import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagerListener;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.rules.DlmResource;
import io.clustermd.dlm.rules.LockEntry;
import io.clustermd.dlm.spi.AbstractLockHandle;
import io.clustermd.dlm.spi.AbstractLockHandle.Op;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The {@code zookeeper} backend: DLM semantics on Apache ZooKeeper through Curator. There is no
 * libdlm counterpart; it plays the part of the kernel DLM plus dlm_controld's fencing.
 *
 * <p>Layout under the chroot: {@code /members/<nodeId>} (ephemeral, one per live node incarnation),
 * {@code /left/<nodeId>} (written by a node that leaves cleanly), {@code /ls/<lockspace>/<resource>}
 * (one znode per resource holding its queues and LVB, {@link ResourceCodec}).
 *
 * <p>Rules: (1) a resource znode changes only by compare-and-set on its version, in a multi-op
 * that also checks this node's member znode exists, so a node whose session is gone can never
 * change a queue; (2) every change runs the DLM grant pass of {@link DlmResource} (so whoever
 * releases or down-converts grants the waiters); (3) holders and waiters watch the resource znodes
 * they have locks on (persistent watches) and learn grants and blocking callbacks from the new state;
 * (4) a node whose member znode vanished (session expired) is purged from every queue after the
 * fencing grace, LVBs it held PW/EX becoming VALNOTVALID; (5) a node that loses its connection
 * fences itself (listeners' {@code selfFenced}) a margin before its session could expire on the
 * server, then rejoins as a new member.
 *
 * <p>Threads: one I/O thread does every ZooKeeper call in order (that order is what makes a
 * cancel or deadline always follow its request); one event thread runs completions and callbacks.
 */
public final class ZkLockManager implements LockManager {
    private static final Logger LOG = LoggerFactory.getLogger(ZkLockManager.class);
    static final Set<LockFlag> SUPPORTED = EnumSet.of(LockFlag.NOQUEUE, LockFlag.CONVERT, LockFlag.VALBLK,
            LockFlag.QUECVT, LockFlag.IVVALBLK, LockFlag.EXPEDITE, LockFlag.NOQUEUEBAST);
    static final String MEMBERS = "/members";
    static final String LEFT = "/left";
    static final String LOCKSPACES = "/ls";

    /** One life of this node in the cluster; a fenced node rejoins as a new incarnation. */
    static final class Incarnation {
        final String memberId;
        final String memberPath;
        final long sessionId;
        volatile boolean fenced;
        volatile String fenceReason;

        Incarnation(String memberId, long sessionId) {
            this.memberId = memberId;
            this.memberPath = MEMBERS + "/" + memberId;
            this.sessionId = sessionId;
        }
    }

    private record Cached(byte[] bytes, int version, long mzxid) {
    }

    /** The outcome of one mutation and the state it left. */
    record Mutation<T>(T outcome, DlmResource state) {
    }

    private final ZkLockManagerConfig config;
    private final CuratorFramework client;
    private final ScheduledExecutorService scheduler;
    private final boolean ownScheduler;
    final ExecutorService io;
    final ExecutorService events;
    private final List<LockManagerListener> listeners = new CopyOnWriteArrayList<>();
    private final Map<String, ZkLockspace> lockspaces = new ConcurrentHashMap<>();
    final AtomicLong lockIds = new AtomicLong();
    private final SecureRandom random = new SecureRandom();
    private volatile Incarnation inc;
    private final java.util.concurrent.ScheduledFuture<?> heartbeatTask;
    /** When the last request the server answered was sent ({@link #heartbeat}); 0 before the first. */
    private final java.util.concurrent.atomic.AtomicLong lastAnsweredNanos = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean closed;
    private final Object fenceLock = new Object();
    private ScheduledFuture<?> fenceTask;
    private final ScheduledFuture<?> sweepTask;

    // I/O-thread state.
    private final Map<String, Cached> cache = new HashMap<>();
    private Set<String> knownMembers = new HashSet<>();
    private final Set<String> purgeScheduled = new HashSet<>();
    private final Map<String, Long> pendingZxid = new ConcurrentHashMap<>();
    private final Watcher lockspaceWatcher = this::onLockspaceEvent;
    private final Watcher membersWatcher = e -> ioExecute(this::refreshMembers);

    private ZkLockManager(ZkLockManagerConfig config) {
        this.config = config;
        this.ownScheduler = config.scheduler() == null;
        this.scheduler = ownScheduler ? Executors.newSingleThreadScheduledExecutor(daemon("dlm-zk-timer-" + config.nodeName()))
                : config.scheduler();
        this.io = Executors.newSingleThreadExecutor(daemon("dlm-zk-io-" + config.nodeName()));
        this.events = Executors.newSingleThreadExecutor(daemon("dlm-zk-events-" + config.nodeName()));
        int sessionMs = (int) config.sessionTimeout().toMillis();
        this.client = CuratorFrameworkFactory.builder()
                .connectString(config.connectString())
                .namespace(config.chroot().substring(1))
                .sessionTimeoutMs(sessionMs)
                .connectionTimeoutMs(Math.max(1000, sessionMs / 2))
                // No retries inside Curator: a retried write whose first try committed could not be
                // told apart from a conflict; our own loop re-reads and re-decides instead.
                .retryPolicy(new RetryNTimes(0, 0))
                .build();
        this.sweepTask = scheduler.scheduleWithFixedDelay(() -> ioExecute(this::sweep), 10, 10, TimeUnit.SECONDS);
        long beat = Math.max(100, sessionMs / 6);
        this.heartbeatTask = scheduler.scheduleWithFixedDelay(this::heartbeat, beat, beat, TimeUnit.MILLISECONDS);
    }

    /**
     * A cheap round trip to the server, so that this node knows when the server last heard from it:
     * the server cannot expire the session earlier than a session timeout after a request it
     * answered was sent. That lets a node cut off by a server restart wait almost the whole session
     * timeout before it fences itself, instead of the third ZooKeeper's client guarantees.
     */
    private void heartbeat() {
        if (closed) {
            return;
        }
        long sentAt = System.nanoTime();
        try {
            client.getZookeeperClient().getZooKeeper().exists("/", false, (rc, path, ctx, stat) -> {
                if (rc == org.apache.zookeeper.KeeperException.Code.OK.intValue()
                        || rc == org.apache.zookeeper.KeeperException.Code.NONODE.intValue()) {
                    lastAnsweredNanos.accumulateAndGet(sentAt, Math::max);
                }
            }, null);
        } catch (Exception e) {
            // not connected now: nothing learned
        }
    }

    /**
     * Connects to ZooKeeper and joins as a new member.
     *
     * @throws IllegalStateException if ZooKeeper cannot be reached within the session timeout
     */
    public static ZkLockManager start(ZkLockManagerConfig config) {
        ZkLockManager m = new ZkLockManager(config);
        try {
            m.client.getConnectionStateListenable().addListener((c, state) -> m.onConnectionState(state));
            m.client.start();
            long waitMs = Math.max(5_000, config.sessionTimeout().toMillis());
            if (!m.client.blockUntilConnected((int) waitMs, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("cannot reach ZooKeeper at " + config.connectString() + " within "
                        + waitMs + " ms; is it running (e.g. 'clustermd coordinator') and is the address right?");
            }
            m.onIo(() -> {
                m.inc = m.join();
                return null;
            });
            return m;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            m.shutdownQuietly();
            throw new IllegalStateException("interrupted while connecting to ZooKeeper", e);
        } catch (RuntimeException e) {
            m.shutdownQuietly();
            throw e;
        }
    }

    @Override
    public String backend() {
        return "zookeeper";
    }

    @Override
    public String nodeId() {
        return inc.memberId;
    }

    @Override
    public Set<LockFlag> supportedFlags() {
        return SUPPORTED;
    }

    @Override
    public boolean reportsBlockingMode() {
        return true;
    }

    /** The ZooKeeper session of this node's current incarnation (its top byte is the id of the server that made it). */
    public long sessionId() {
        Incarnation i = inc;
        return i == null ? 0 : i.sessionId;
    }

    /** The session timeout the server granted. */
    public Duration negotiatedSessionTimeout() {
        try {
            return Duration.ofMillis(client.getZookeeperClient().getZooKeeper().getSessionTimeout());
        } catch (Exception e) {
            return config.sessionTimeout();
        }
    }

    ZkLockManagerConfig config() {
        return config;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    @Override
    public Lockspace openLockspace(String name, Duration defaultTimeout) {
        checkAlive();
        ZkLockspace ls = new ZkLockspace(this, name, defaultTimeout, inc);
        if (lockspaces.putIfAbsent(name, ls) != null) {
            throw new IllegalStateException("lockspace '" + name + "' is already open on node " + nodeId()
                    + "; use the open Lockspace or close it first");
        }
        try {
            onIo(() -> {
                String path = LOCKSPACES + "/" + name;
                try {
                    client.create().creatingParentsIfNeeded().forPath(path);
                } catch (KeeperException.NodeExistsException e) {
                    // joined an existing lockspace
                }
                scanLockspace(name);
                return null;
            });
        } catch (RuntimeException e) {
            lockspaces.remove(name, ls);
            throw e;
        }
        return ls;
    }

    @Override
    public void addListener(LockManagerListener listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        for (ZkLockspace ls : new ArrayList<>(lockspaces.values())) {
            try {
                ls.close();
            } catch (RuntimeException e) {
                LOG.warn("closing lockspace {}: {}", ls.name(), e.toString());
            }
        }
        closed = true;
        try {
            onIo(() -> {
                Incarnation i = inc;
                if (i != null && !i.fenced) {
                    try {
                        client.create().creatingParentsIfNeeded().forPath(LEFT + "/" + i.memberId);
                    } catch (KeeperException.NodeExistsException ignored) {
                        // already marked
                    }
                    client.delete().forPath(i.memberPath);
                }
                return null;
            });
        } catch (RuntimeException e) {
            LOG.warn("leaving the ZooKeeper lock cluster: {}", e.toString());
        }
        shutdownQuietly();
    }

    private void shutdownQuietly() {
        closed = true;
        sweepTask.cancel(false);
        heartbeatTask.cancel(false);
        client.close();
        io.shutdownNow();
        events.shutdown();
        if (ownScheduler) {
            scheduler.shutdownNow();
        }
    }

    void lockspaceClosed(ZkLockspace ls) {
        lockspaces.remove(ls.name(), ls);
    }

    private void checkAlive() {
        if (closed) {
            throw new IllegalStateException("the ZooKeeper lock manager of node " + config.nodeName() + " is closed");
        }
        Incarnation i = inc;
        if (i == null || i.fenced) {
            throw new FencedException("node " + config.nodeName() + " is fenced from ZooKeeper ("
                    + (i == null ? "not joined" : i.fenceReason) + "); wait for it to rejoin");
        }
    }

    // ---- membership -------------------------------------------------------------------------

    /** 1. member znode (ephemeral) 2. watch the member list 3. learn who is there. */
    private Incarnation join() throws Exception {
        String id = config.nodeName() + "-" + HexFormat.of().toHexDigits(random.nextInt());
        client.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(MEMBERS + "/" + id);
        long session = client.getZookeeperClient().getZooKeeper().getSessionId();
        client.watchers().add().withMode(AddWatchMode.PERSISTENT).usingWatcher(membersWatcher).forPath(MEMBERS);
        knownMembers = new HashSet<>(client.getChildren().forPath(MEMBERS));
        LOG.info("joined the ZooKeeper lock cluster as {} (session 0x{}, {} members)", id, Long.toHexString(session),
                knownMembers.size());
        return new Incarnation(id, session);
    }

    private void refreshMembers() throws Exception {
        if (closed || inc == null) {
            return;
        }
        Set<String> now = new HashSet<>(client.getChildren().forPath(MEMBERS));
        for (String m : knownMembers) {
            if (!now.contains(m)) {
                memberDeparted(m);
            }
        }
        knownMembers = now;
    }

    /** A member's znode is gone: after the fencing grace, purge its locks (once). */
    private void memberDeparted(String member) {
        Incarnation i = inc;
        if (i == null || member.equals(i.memberId) || !purgeScheduled.add(member)) {
            return;
        }
        LOG.info("node {} left the lock cluster; releasing its locks in {}", member, config.fencingGrace());
        scheduler.schedule(() -> ioExecute(() -> purgeMember(member)), config.fencingGrace().toNanos(),
                TimeUnit.NANOSECONDS);
    }

    private void purgeMember(String member) throws Exception {
        if (closed || inc == null || inc.fenced) {
            purgeScheduled.remove(member);
            return;
        }
        if (client.checkExists().forPath(MEMBERS + "/" + member) != null) {
            purgeScheduled.remove(member);
            return;
        }
        int removed = 0;
        for (String lsName : lockspaces.keySet()) {
            for (String child : children(LOCKSPACES + "/" + lsName)) {
                String path = LOCKSPACES + "/" + lsName + "/" + child;
                DlmResource state = read(path);
                if (state.granted.stream().anyMatch(e -> e.owner.equals(member))
                        || state.converting.stream().anyMatch(e -> e.owner.equals(member))
                        || state.waiting.stream().anyMatch(e -> e.owner.equals(member))) {
                    Mutation<Integer> m = mutate(path, s -> s.purge(member::equals, true, DlmResource.Events.NONE));
                    removed += m.outcome();
                    reconcile(lsName, decodeResource(child), m.state());
                }
            }
        }
        boolean clean = client.checkExists().forPath(LEFT + "/" + member) != null;
        if (removed > 0) {
            LOG.warn("released {} lock(s) of node {}, which died", removed, member);
        }
        boolean failed = !clean;
        events.execute(() -> listeners.forEach(l -> {
            try {
                l.nodeLeft(member, failed);
            } catch (RuntimeException e) {
                LOG.error("nodeLeft listener threw", e);
            }
        }));
    }

    /** Finds locks of nodes that are no longer members (for instance while nobody had the lockspace open). */
    private void scanLockspace(String lsName) throws Exception {
        List<DlmResource> states = new ArrayList<>();
        for (String child : children(LOCKSPACES + "/" + lsName)) {
            states.add(read(LOCKSPACES + "/" + lsName + "/" + child));
        }
        // Read the member list after the resources: an owner seen in a resource was a member
        // before it wrote there, so if it is missing now it has left.
        Set<String> members = new HashSet<>(client.getChildren().forPath(MEMBERS));
        for (DlmResource s : states) {
            for (List<LockEntry> q : List.of(s.granted, s.converting, s.waiting)) {
                for (LockEntry e : q) {
                    if (!members.contains(e.owner)) {
                        memberDeparted(e.owner);
                    }
                }
            }
        }
    }

    private void sweep() throws Exception {
        if (closed || inc == null || inc.fenced || !client.getZookeeperClient().isConnected()) {
            return;
        }
        for (String ls : lockspaces.keySet()) {
            scanLockspace(ls);
        }
    }

    // ---- fencing ----------------------------------------------------------------------------

    private void onConnectionState(ConnectionState state) {
        if (closed) {
            return;
        }
        Incarnation i = inc;
        switch (state) {
            case SUSPENDED -> {
                if (i == null || i.fenced) {
                    return;
                }
                // The server expires our session at the earliest a session timeout after it last heard
                // from us. The last answered heartbeat says when that was at the latest; without one,
                // the client notices silence only after 2/3 of the timeout, so at least a third is left.
                // Fence a margin before the earliest expiry.
                long st = negotiatedSessionTimeout().toMillis();
                long answered = lastAnsweredNanos.get();
                long left = answered == 0 ? st / 3
                        : Math.min(st, st - (System.nanoTime() - answered) / 1_000_000);
                long delay = Math.max(0, left - config.selfFenceMargin().toMillis());
                LOG.warn("lost the connection to ZooKeeper; fencing this node in {} ms unless it comes back", delay);
                synchronized (fenceLock) {
                    if (fenceTask != null) {
                        fenceTask.cancel(false);
                    }
                    fenceTask = scheduler.schedule(() -> fence(i, "lost the connection to ZooKeeper for longer than "
                            + delay + " ms"), delay, TimeUnit.MILLISECONDS);
                }
            }
            case RECONNECTED -> {
                long session = currentSession();
                if (i != null && !i.fenced && session != i.sessionId) {
                    fence(i, "the ZooKeeper session expired");
                }
                if (i != null && !i.fenced) {
                    synchronized (fenceLock) {
                        if (fenceTask != null) {
                            fenceTask.cancel(false);
                            fenceTask = null;
                        }
                    }
                    LOG.info("reconnected to ZooKeeper within the session");
                    ioExecute(this::refreshAll);
                } else {
                    ioExecute(this::rejoin);
                }
            }
            case LOST -> {
                if (i != null) {
                    fence(i, "the ZooKeeper session was lost");
                }
            }
            default -> { }
        }
    }

    private long currentSession() {
        try {
            return client.getZookeeperClient().getZooKeeper().getSessionId();
        } catch (Exception e) {
            return -1;
        }
    }

    /**
     * This node must stop writing: 1. mark the incarnation fenced (no change to any queue can be
     * made with it any more); 2. tell the listeners, synchronously, before anything else; 3. fail
     * every lock and pending request; 4. rejoin when ZooKeeper is reachable.
     */
    void fence(Incarnation i, String reason) {
        synchronized (fenceLock) {
            if (i.fenced || closed) {
                return;
            }
            i.fenceReason = reason;
            i.fenced = true;
            if (fenceTask != null) {
                fenceTask.cancel(false);
                fenceTask = null;
            }
        }
        LOG.error("node {} fenced itself: {}", i.memberId, reason);
        for (LockManagerListener l : listeners) {
            try {
                l.selfFenced(reason);
            } catch (RuntimeException e) {
                LOG.error("selfFenced listener threw", e);
            }
        }
        FencedException cause = new FencedException("node " + i.memberId + " was fenced: " + reason);
        List<ZkLockspace> dead = new ArrayList<>(lockspaces.values());
        for (ZkLockspace ls : dead) {
            ls.markFenced(reason);
            lockspaces.remove(ls.name(), ls);
        }
        events.execute(() -> dead.forEach(ls -> ls.failAll(cause)));
        if (client.getZookeeperClient().isConnected()) {
            ioExecute(this::rejoin);
        }
    }

    /**
     * After fencing: 1. if the old session still lives, remove the old incarnation's locks (as a
     * death: LVBs held PW/EX become invalid) and its member znode; 2. join as a new member.
     */
    private void rejoin() throws Exception {
        Incarnation old = inc;
        if (closed || old == null || !old.fenced || !client.getZookeeperClient().isConnected()) {
            return;
        }
        if (currentSession() == old.sessionId && client.checkExists().forPath(old.memberPath) != null) {
            for (String lsName : children(LOCKSPACES)) {
                for (String child : children(LOCKSPACES + "/" + lsName)) {
                    String path = LOCKSPACES + "/" + lsName + "/" + child;
                    DlmResource s = read(path);
                    if (s.find(old.memberId, anyLock(s, old.memberId)) != null) {
                        mutateAs(old, path, st -> st.purge(old.memberId::equals, true, DlmResource.Events.NONE), true);
                    }
                }
            }
            client.delete().forPath(old.memberPath);
        }
        cache.clear();
        purgeScheduled.clear();
        Incarnation fresh = join();
        inc = fresh;
        LOG.info("rejoined the lock cluster as {}", fresh.memberId);
        events.execute(() -> listeners.forEach(l -> {
            try {
                l.rejoined(fresh.memberId);
            } catch (RuntimeException e) {
                LOG.error("rejoined listener threw", e);
            }
        }));
    }

    private static long anyLock(DlmResource s, String owner) {
        for (List<LockEntry> q : List.of(s.granted, s.converting, s.waiting)) {
            for (LockEntry e : q) {
                if (e.owner.equals(owner)) {
                    return e.lockId;
                }
            }
        }
        return -1;
    }

    // ---- lock operations (I/O thread) -------------------------------------------------------

    /**
     * The first lock of this node on a resource: watch that resource's znode (a persistent watch,
     * which the client renews by itself after a reconnection). Queued on the I/O thread ahead of
     * any request on the lock, so no change after the request can be missed. Only resources this
     * node has locks on are watched: nodes are not woken by each other's unrelated locks.
     */
    void watchResource(ZkLockspace ls, String resource) {
        ioExecute(() -> client.watchers().add().withMode(AddWatchMode.PERSISTENT).usingWatcher(lockspaceWatcher)
                .forPath(ls.path(resource)));
    }

    void sendLock(ZkLockspace ls, ZkLockHandle h, Op op) {
        Incarnation i = ls.incarnation;
        ioExecute(() -> {
            try {
                if (op.kind == AbstractLockHandle.Kind.REQUEST) {
                    h.lastBastSeq = 0; // a new request makes a new entry, whose count starts at 0
                }
                String path = ls.path(h.resource());
                byte[][] lvb = new byte[1][];
                boolean[] invalid = new boolean[1];
                Mutation<DlmResource.Outcome> m = mutateAs(i, path, state -> {
                    LockEntry e = state.find(i.memberId, h.lockId());
                    DlmResource.Outcome o;
                    if (e != null && e.reqSeq == op.seq) {
                        // An earlier try of this very request committed (connection lost before the reply).
                        o = e.rqmode == null && e.grantSeq == op.seq ? DlmResource.Outcome.GRANTED
                                : e.rqmode != null ? DlmResource.Outcome.QUEUED
                                : op.flags.contains(LockFlag.NOQUEUE) ? DlmResource.Outcome.NOT_GRANTED
                                : DlmResource.Outcome.DEADLOCK;
                    } else if (op.kind == AbstractLockHandle.Kind.REQUEST) {
                        if (e != null) {
                            throw new IllegalStateException("lock " + h + " has a stale entry " + e);
                        }
                        e = new LockEntry(i.memberId, h.lockId());
                        o = state.request(e, op.mode, op.flagBits, op.seq, DlmResource.Events.NONE);
                    } else {
                        if (e == null) {
                            throw new FencedException("lock " + h + " is no longer in the lock manager's queues");
                        }
                        o = state.convert(e, op.mode, op.flagBits, op.lvbIn, op.seq, DlmResource.Events.NONE);
                    }
                    lvb[0] = e.lvbOut;
                    invalid[0] = e.lvbOutInvalid;
                    return o;
                }, false);
                switch (m.outcome()) {
                    case GRANTED -> completeLater(h, op, LockStatus.GRANTED, lvb[0], invalid[0]);
                    case NOT_GRANTED -> completeLater(h, op, LockStatus.NOT_GRANTED, null, false);
                    case DEADLOCK -> completeLater(h, op, LockStatus.DEADLOCK, null, false);
                    default -> { }
                }
                reconcile(ls.name(), h.resource(), m.state());
            } catch (Exception e) {
                failLater(h, op, e);
            }
        });
    }

    void sendUnlock(ZkLockspace ls, ZkLockHandle h, Op op) {
        Incarnation i = ls.incarnation;
        ioExecute(() -> {
            try {
                Mutation<DlmResource.Outcome> m = mutateAs(i, ls.path(h.resource()), state -> {
                    LockEntry e = state.find(i.memberId, h.lockId());
                    return e == null ? DlmResource.Outcome.UNLOCKED : state.unlock(e, op.flagBits, op.lvbIn,
                            DlmResource.Events.NONE);
                }, false);
                completeLater(h, op, LockStatus.UNLOCKED, null, false);
                reconcile(ls.name(), h.resource(), m.state());
            } catch (Exception e) {
                failLater(h, op, e);
            }
        });
    }

    void sendCancel(ZkLockspace ls, ZkLockHandle h, Op op) {
        Incarnation i = ls.incarnation;
        ioExecute(() -> {
            try {
                Mutation<DlmResource.Outcome> m = mutateAs(i, ls.path(h.resource()), state -> {
                    LockEntry e = state.find(i.memberId, h.lockId());
                    if (e == null) {
                        // A new request that is in no queue: cancelled by an earlier try, or never queued.
                        return op.kind == AbstractLockHandle.Kind.REQUEST ? DlmResource.Outcome.CANCELLED
                                : DlmResource.Outcome.NOT_PENDING;
                    }
                    if (e.reqSeq != op.seq) {
                        return DlmResource.Outcome.NOT_PENDING;
                    }
                    if (e.rqmode != null) {
                        return state.cancel(e, DlmResource.Events.NONE);
                    }
                    return e.grantSeq == op.seq ? DlmResource.Outcome.NOT_PENDING : DlmResource.Outcome.CANCELLED;
                }, false);
                if (m.outcome() == DlmResource.Outcome.CANCELLED) {
                    completeLater(h, op, LockStatus.CANCELLED, null, false);
                }
                reconcile(ls.name(), h.resource(), m.state());
            } catch (Exception e) {
                failLater(h, op, e);
            }
        });
    }

    /** Releases (without LVB writes) every lock of this node in a lockspace; then stops watching it. */
    void closeLockspace(ZkLockspace ls) {
        Incarnation i = ls.incarnation;
        try {
            onIo(() -> {
                if (!i.fenced && client.getZookeeperClient().isConnected()) {
                    for (String child : children(LOCKSPACES + "/" + ls.name())) {
                        String path = LOCKSPACES + "/" + ls.name() + "/" + child;
                        DlmResource s = read(path);
                        if (anyLock(s, i.memberId) >= 0) {
                            Mutation<Integer> m = mutateAs(i, path, st -> st.purge(i.memberId::equals, false,
                                    DlmResource.Events.NONE), false);
                            reconcile(ls.name(), decodeResource(child), m.state());
                        }
                    }
                }
                for (String resource : ls.resourcesWithHandles()) {
                    try {
                        client.watchers().remove(lockspaceWatcher).forPath(ls.path(resource));
                    } catch (Exception e) {
                        LOG.debug("removing watch of {}: {}", ls.path(resource), e.toString());
                    }
                }
                return null;
            });
        } finally {
            lockspaceClosed(ls);
        }
    }

    /**
     * Compare-and-set of one resource znode: 1. take the cached (or freshly read) state and its
     * version; 2. apply {@code change}; 3. write it back with that version, checking in the same
     * multi-op that {@code as}'s member znode still exists (a change that writes nothing checks the
     * version in that multi-op instead, so no answer comes from a stale copy); 4. on a version
     * conflict, start over from a fresh read; on a lost connection, retry until fenced.
     */
    private <T> Mutation<T> mutateAs(Incarnation as, String path, Function<DlmResource, T> change, boolean evenIfFenced)
            throws Exception {
        while (true) {
            if (as.fenced && !evenIfFenced) {
                throw new FencedException("node " + as.memberId + " is fenced: " + as.fenceReason);
            }
            if (closed) {
                throw new IllegalStateException("lock manager closed");
            }
            Cached c = cache.get(path);
            if (c == null) {
                readCached(path);
                c = cache.get(path);
            }
            DlmResource state = ResourceCodec.decode(c.bytes());
            T outcome = change.apply(state);
            byte[] bytes = ResourceCodec.encode(state);
            boolean unchanged = outcome == DlmResource.Outcome.NOT_PENDING || Arrays.equals(bytes, c.bytes());
            try {
                if (unchanged) {
                    // Nothing to write, but the answer (a NOQUEUE request NOT_GRANTED, say) was worked out on this
                    // node's copy, which can lag behind a change another node has committed: a follower serves
                    // reads from its own state. The leader confirms the version before the answer is given.
                    client.transaction().forOperations(
                            client.transactionOp().check().forPath(as.memberPath),
                            client.transactionOp().check().withVersion(c.version()).forPath(path));
                    return new Mutation<>(outcome, state);
                }
                List<CuratorTransactionResult> r = client.transaction().forOperations(
                        client.transactionOp().check().forPath(as.memberPath),
                        client.transactionOp().setData().withVersion(c.version()).forPath(path, bytes));
                Stat stat = r.get(1).getResultStat();
                cache.put(path, new Cached(bytes, stat.getVersion(), stat.getMzxid()));
                return new Mutation<>(outcome, state);
            } catch (KeeperException.BadVersionException e) {
                cache.remove(path);
            } catch (KeeperException.NoNodeException e) {
                cache.remove(path);
                if (client.checkExists().forPath(as.memberPath) == null) {
                    fence(as, "this node's membership in ZooKeeper is gone");
                    throw new FencedException("node " + as.memberId + " is no longer a member of the lock cluster");
                }
            } catch (KeeperException.ConnectionLossException | KeeperException.SessionMovedException e) {
                cache.remove(path);
                Thread.sleep(50);
            } catch (KeeperException.SessionExpiredException e) {
                fence(as, "the ZooKeeper session expired");
            }
        }
    }

    private <T> Mutation<T> mutate(String path, Function<DlmResource, T> change) throws Exception {
        return mutateAs(inc, path, change, false);
    }

    private DlmResource read(String path) throws Exception {
        readCached(path);
        return ResourceCodec.decode(cache.get(path).bytes());
    }

    /** Reads a resource znode into the cache, creating it empty if it does not exist yet. */
    private void readCached(String path) throws Exception {
        while (true) {
            try {
                Stat stat = new Stat();
                byte[] data = client.getData().storingStatIn(stat).forPath(path);
                cache.put(path, new Cached(data == null ? new byte[0] : data, stat.getVersion(), stat.getMzxid()));
                return;
            } catch (KeeperException.NoNodeException e) {
                try {
                    client.create().creatingParentsIfNeeded().forPath(path, ResourceCodec.encode(new DlmResource()));
                } catch (KeeperException.NodeExistsException raced) {
                    // someone else created it: read again
                }
            } catch (KeeperException.ConnectionLossException e) {
                Incarnation i = inc;
                if (closed || i == null || i.fenced) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    private List<String> children(String path) throws Exception {
        try {
            return client.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        }
    }

    // ---- watches and reconciliation ---------------------------------------------------------

    private void onLockspaceEvent(WatchedEvent event) {
        String path = event.getPath();
        if (path == null || event.getType() != Watcher.Event.EventType.NodeDataChanged) {
            return;
        }
        if (!path.startsWith(LOCKSPACES + "/")) {
            // Curator hands namespaced paths to raw watchers on some versions: strip the chroot.
            int at = path.indexOf(LOCKSPACES + "/");
            if (at < 0) {
                return;
            }
            path = path.substring(at);
        }
        String p = path;
        boolean first = pendingZxid.put(p, Math.max(event.getZxid(), pendingZxid.getOrDefault(p, -1L))) == null;
        if (first) {
            ioExecute(() -> refresh(p));
        }
    }

    private void refresh(String path) throws Exception {
        Long zxid = pendingZxid.remove(path);
        String[] parts = path.split("/");
        if (parts.length != 4 || closed) {
            return;
        }
        String lsName = parts[2];
        String resource = decodeResource(parts[3]);
        ZkLockspace ls = lockspaces.get(lsName);
        if (ls == null || !ls.hasHandles(resource)) {
            return;
        }
        Cached c = cache.get(path);
        if (c == null || zxid == null || zxid < 0 || c.mzxid() < zxid) {
            readCached(path);
            c = cache.get(path);
        }
        reconcile(lsName, resource, ResourceCodec.decode(c.bytes()));
    }

    private void refreshAll() throws Exception {
        cache.clear();
        for (ZkLockspace ls : lockspaces.values()) {
            for (String resource : ls.resourcesWithHandles()) {
                reconcile(ls.name(), resource, read(ls.path(resource)));
            }
        }
        refreshMembers();
    }

    /**
     * Tells this node's locks on one resource what the state says: a grant of the request in
     * flight completes it; a new blocking callback count fires the callback; a held lock missing
     * from the queues means this node was purged as dead: fence.
     */
    private void reconcile(String lsName, String resource, DlmResource state) {
        ZkLockspace ls = lockspaces.get(lsName);
        Incarnation i = inc;
        if (ls == null || i == null || ls.incarnation != i || ls.isDead()) {
            return;
        }
        for (ZkLockHandle h : ls.handles(resource)) {
            LockEntry e = state.find(i.memberId, h.lockId());
            Op op = h.pendingOp();
            if (e != null && op != null && op.kind != AbstractLockHandle.Kind.UNLOCK && e.grantSeq == op.seq
                    && e.rqmode == null && e.reqSeq == op.seq) {
                completeLater(h, op, LockStatus.GRANTED, e.lvbOut, e.lvbOutInvalid);
            }
            if (e != null && e.grmode != null && e.bastSeq > h.lastBastSeq) {
                h.lastBastSeq = e.bastSeq;
                io.clustermd.dlm.LockMode mode = e.bastMode;
                events.execute(() -> h.deliverBlocking(mode));
            }
            if (e == null && op == null && h.grantedMode() != null) {
                fence(i, "lock '" + resource + "' in lockspace '" + lsName
                        + "' was taken away: the others consider this node dead");
                return;
            }
        }
    }

    private void completeLater(AbstractLockHandle h, Op op, LockStatus status, byte[] lvb, boolean invalid) {
        events.execute(() -> h.complete(op, status, lvb, invalid));
    }

    private void failLater(AbstractLockHandle h, Op op, Exception e) {
        if (!(e instanceof FencedException)) {
            LOG.warn("lock operation {} on {} failed: {}", op, h, e.toString());
        }
        events.execute(() -> h.fail(op, e));
    }

    // ---- plumbing ---------------------------------------------------------------------------

    /** Runs on the I/O thread; logs what fails. */
    void ioExecute(IoTask task) {
        if (io.isShutdown()) {
            return;
        }
        try {
            io.execute(() -> {
                try {
                    task.run();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (Exception e) {
                    if (!closed) {
                        LOG.warn("ZooKeeper lock manager task failed: {}", e.toString());
                    }
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // shutting down
        }
    }

    /** Runs on the I/O thread and waits for it. */
    private <T> T onIo(Callable<T> task) {
        Future<T> f = io.submit(task);
        try {
            return f.get(Math.max(30_000, config.sessionTimeout().toMillis() * 3), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("ZooKeeper operation failed: " + c, c);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new IllegalStateException("ZooKeeper did not answer in time (" + config.connectString() + ")", e);
        }
    }

    /** A task for the I/O thread. */
    @FunctionalInterface
    interface IoTask {
        void run() throws Exception;
    }

    static String encodeResource(String resource) {
        return "r-" + URLEncoder.encode(resource, StandardCharsets.UTF_8);
    }

    static String decodeResource(String child) {
        return URLDecoder.decode(child.substring(2), StandardCharsets.UTF_8);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public String toString() {
        Incarnation i = inc;
        return "ZkLockManager[" + (i == null ? config.nodeName() : i.memberId) + "]";
    }
}
