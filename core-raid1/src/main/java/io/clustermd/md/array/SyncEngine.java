package io.clustermd.md.array;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * md's sync thread ({@code md_do_sync} with raid1/raid10 {@code sync_request}): resync of dirty
 * regions, recovery of rebuilding members, and check/repair. One action at a time, on its own
 * thread, in windows guarded by the {@link SyncBarrier}; paced by the {@link SyncThrottle} (md's
 * speed_limit_min/max with is_mddev_idle), progress and {@link SyncSpeed} updated per window. The
 * bytes are moved by the {@link SyncCopier}; a resync's windows are announced to the other nodes of
 * a cluster by the {@link ResyncAnnouncer}.
 *
 * <p>Checkpoints, so that a restarted daemon continues where a crash or a stop left off: resync
 * with a bitmap continues from the bits on disk (a finished chunk's bit is cleared by the bitmap
 * daemon), without a bitmap from {@code resync_offset} (md's {@code recovery_cp}); recovery from
 * the member's {@code recovery_offset}; check and repair from the {@link SyncCheckpointStore}.
 *
 * <p>Every wait goes through {@link SyncWaits}: bounded by a stop request, and named in status and
 * the log when it lasts. {@link #stop()} returns within {@link #STOP_WAIT_MILLIS}.
 */
public final class SyncEngine {

    private static final System.Logger LOG = System.getLogger(SyncEngine.class.getName());
    /**
     * Largest window copied under one barrier raise: several {@link SyncCopier#IO_PIECE}s, so reads
     * and writes of one window overlap (md's raid1 keeps up to RESYNC_DEPTH requests in flight).
     */
    static final int WINDOW = 8 << 20;
    /**
     * Superblock checkpoints (recovery_offset, resync_offset without a bitmap) this often: what a
     * crash can cost of a recovery. One superblock write a second is nothing next to the copy.
     */
    static final long CHECKPOINT_NANOS = 1_000_000_000L;
    /** A check's or repair's position goes to the store this often. */
    static final long CHECK_SAVE_NANOS = 1_000_000_000L;
    /** How long {@link #stop()} waits for the sync thread to leave its window. */
    static final long STOP_WAIT_MILLIS = 500;

    /** What the sync thread is doing (md's sync_action). */
    public enum Action { IDLE, RESYNC, RECOVER, CHECK, REPAIR }

    /**
     * Progress for status (md's sync_completed and sync_speed).
     *
     * @param waitingFor what the sync thread has waited for longer than a second, or null
     */
    public record Progress(Action action, long doneBytes, long totalBytes, long bytesPerSecond, long startedNanos,
                           String waitingFor) {
    }

    private static final Progress IDLE = new Progress(Action.IDLE, 0, 0, 0, 0, null);

    private final MdArray array;
    private final SyncCheckpointStore store;
    private final LongSupplier nanoTime = System::nanoTime;
    private final SyncThrottle throttle;
    private final SyncSpeed speed = new SyncSpeed();
    private final SyncWaits waits;
    private final SyncCopier copier;
    private final ResyncAnnouncer announcer;
    private final Object lock = new Object();
    private Thread thread;
    private volatile boolean stop;
    private boolean recoveryRequested;                 // guarded by lock
    /** When a resync or recovery that failed (a cluster message timed out) is tried again; 0 = none. */
    private long retryAtNanos;                         // guarded by lock
    /** How long a failed resync or recovery waits before it is tried again. */
    static final long RETRY_SECONDS = 10;
    private volatile Action checkRequested;            // written under lock
    private SyncCheckpointStore.Saved resumeCheck;     // guarded by lock
    private volatile Progress progress = IDLE;
    private volatile long mismatches;
    private final AtomicLong checksCompleted = new AtomicLong();
    private volatile long resyncCheckpoint = Long.MAX_VALUE;

    SyncEngine(MdArray array, long minKiB, long maxKiB, SyncCheckpointStore store) {
        this.array = array;
        this.store = store;
        this.throttle = new SyncThrottle(minKiB, maxKiB, WINDOW, array::foregroundBytes,
                () -> array.barrier().writesHeld(), nanoTime, this::sleep);
        this.waits = new SyncWaits(array.name(), () -> stop, nanoTime);
        this.copier = new SyncCopier(array, waits, throttle, this::admit);
        this.announcer = new ResyncAnnouncer(array, waits, speed, throttle, nanoTime, () -> progress.startedNanos());
    }

    void start() {
        synchronized (lock) {
            recoveryRequested = true;
            resumeCheck = store.load().filter(s -> s.action() == Action.CHECK || s.action() == Action.REPAIR)
                    .orElse(null);
            thread = Thread.ofPlatform().name("md-sync-" + array.name()).daemon().start(this::run);
        }
    }

    void recoveryNeeded() {
        synchronized (lock) {
            recoveryRequested = true;
            lock.notifyAll();
        }
    }

    void memberFailed() {
        recoveryNeeded();
    }

    void requestCheck(boolean repair) throws io.clustermd.md.MdFormatException {
        synchronized (lock) {
            if (progress.action() != Action.IDLE || checkRequested != null) {
                throw new io.clustermd.md.MdFormatException("the array is busy (" + progress.action().name()
                        .toLowerCase() + "); try again when it is idle");
            }
            if (array.degraded()) {
                throw new io.clustermd.md.MdFormatException("the array is degraded: a check needs every member"
                        + " in sync");
            }
            checkRequested = repair ? Action.REPAIR : Action.CHECK;
            resumeCheck = null; // a new request replaces an interrupted one
            lock.notifyAll();
        }
    }

    /** The running action with its speed as of now and what it waits for. */
    Progress progress() {
        Progress p = progress;
        Action requested = checkRequested;
        if (p.action() == Action.IDLE && requested != null) {
            // md's sync_action reads "check" as soon as it is written, before the sync thread runs:
            // a status right after a check request must not read the old state as "done".
            return new Progress(requested, 0, array.size(), 0, nanoTime.getAsLong(), "the sync thread to start it");
        }
        if (p.action() == Action.IDLE) {
            return p;
        }
        return new Progress(p.action(), p.doneBytes(), Math.max(p.totalBytes(), p.doneBytes()),
                speed.bytesPerSecond(nanoTime.getAsLong()), p.startedNanos(), waits.waitingFor());
    }

    long mismatches() {
        return mismatches;
    }

    long checksCompleted() {
        return checksCompleted.get();
    }

    boolean nothingPending() {
        return array.bitmap().nextChunkNeedingSync(0) < 0 && progress.action() == Action.IDLE;
    }

    long checkpointSectors() {
        return resyncCheckpoint == Long.MAX_VALUE ? 0 : resyncCheckpoint / 512;
    }

    /**
     * Asks the sync thread to stop and waits at most {@link #STOP_WAIT_MILLIS} for it: every wait
     * of the thread is sliced and gives up on a stop, so it leaves within one member I/O. Its
     * window is lowered and unfinished chunks stay marked for the next start.
     */
    void stop() {
        Thread t;
        synchronized (lock) {
            stop = true;
            lock.notifyAll();
            t = thread;
        }
        if (t == null || t == Thread.currentThread()) {
            return;
        }
        try {
            t.join(STOP_WAIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (t.isAlive()) {
            String w = waits.waitingFor();
            LOG.log(System.Logger.Level.WARNING, "{0}: sync thread still busy after {1} ms ({2}); stopping without it",
                    array.name(), STOP_WAIT_MILLIS, w == null ? "in a member I/O" : "waiting for " + w);
        }
    }

    private void run() {
        while (!stop) {
            Action next;
            SyncCheckpointStore.Saved resume = null;
            synchronized (lock) {
                while (!stop && !recoveryRequested && checkRequested == null && resumeCheck == null) {
                    try {
                        if (retryAtNanos != 0) {
                            long left = retryAtNanos - nanoTime.getAsLong();
                            if (left <= 0) {
                                retryAtNanos = 0;
                                recoveryRequested = true;
                                break;
                            }
                            lock.wait(Math.max(1, left / 1_000_000));
                        } else {
                            lock.wait();
                        }
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (stop) {
                    return;
                }
                if (recoveryRequested) {
                    // Redundancy first: a check interrupted by a crash continues after the resync.
                    next = Action.RESYNC;
                    recoveryRequested = false;
                } else if (checkRequested != null) {
                    next = checkRequested;
                    checkRequested = null;
                } else {
                    resume = resumeCheck;
                    resumeCheck = null;
                    next = resume.action();
                }
            }
            try {
                if (next == Action.CHECK || next == Action.REPAIR) {
                    check(next == Action.REPAIR, resume);
                } else {
                    recover();
                    resync();
                }
            } catch (SyncWaits.Abandoned e) {
                // stop requested: what is unfinished stays marked
            } catch (RuntimeException e) {
                boolean retry = next == Action.RESYNC;
                LOG.log(System.Logger.Level.ERROR, "sync of " + array.name() + " stopped: " + MdArray.rootMessage(e)
                        + (retry ? "; what is left stays marked and is tried again in " + RETRY_SECONDS + " s" : ""));
                if (retry) {
                    synchronized (lock) {
                        retryAtNanos = nanoTime.getAsLong() + RETRY_SECONDS * 1_000_000_000L;
                    }
                }
            } finally {
                progress = IDLE;
            }
        }
    }

    // ------------------------------------------------------------------ progress

    private void begin(Action action, long done, long total) {
        long now = nanoTime.getAsLong();
        speed.start(now, done);
        progress = new Progress(action, done, total, 0, now, null);
    }

    private void advance(long done) {
        speed.record(nanoTime.getAsLong(), done);
        Progress p = progress;
        progress = new Progress(p.action(), done, Math.max(p.totalBytes(), done), 0, p.startedNanos(), null);
    }

    /** Throttle sleep: wakes early on stop (or any other notification, after which admit looks again). */
    private void sleep(long nanos) throws InterruptedException {
        synchronized (lock) {
            if (!stop) {
                lock.wait(Math.max(1, (nanos + 999_999) / 1_000_000));
            }
        }
    }

    private void admit(long bytes) {
        try {
            if (!throttle.admit(bytes, () -> stop)) {
                throw new SyncWaits.Abandoned();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SyncWaits.Abandoned();
        }
    }

    // ------------------------------------------------------------------ resync

    /** Resync: copy every chunk the bitmap marks from the first in-sync member to the others. */
    private void resync() {
        BitmapOps bitmap = array.bitmap();
        if (array.degraded() || bitmap.nextChunkNeedingSync(0) < 0) {
            return; // degraded: the bits stay until the missing member is back
        }
        begin(Action.RESYNC, 0, neededBytes(bitmap)); // status shows the resync while it waits for the lock
        try {
            waits.during(CLUSTER_LOCK_WAIT, () -> array.cluster().resyncStart());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        try {
            // Chunks that turn NEEDED behind the pass (a write that failed on a member) get another
            // pass; a few at most, since such a failure also degrades the array.
            for (int pass = 0; pass < 3 && !stop && !array.degraded(); pass++) {
                long neededBytes = neededBytes(bitmap);
                if (neededBytes == 0) {
                    break;
                }
                resyncPass(bitmap, neededBytes);
            }
        } finally {
            array.cluster().resyncFinish(); // announces (0, 0): the window is gone
        }
    }

    private void resyncPass(BitmapOps bitmap, long total) {
        long chunkBytes = bitmap.chunkBytes();
        begin(Action.RESYNC, 0, total);
        LOG.log(System.Logger.Level.INFO, "{0}: resync of {1} chunk(s) started ({2} MiB)", array.name(),
                String.valueOf((total + chunkBytes - 1) / chunkBytes), String.valueOf(total >> 20));
        try {
            resyncRuns(bitmap, chunkBytes);
        } finally {
            announcer.settle();   // resync_finish's (0, 0) must not overtake a window still under way
        }
    }

    private void resyncRuns(BitmapOps bitmap, long chunkBytes) {
        long[] done = {0};
        long lastCheckpoint = nanoTime.getAsLong();
        long announcedEnd = -1;
        long chunk = bitmap.nextChunkNeedingSync(0);
        while (chunk >= 0 && !stop && !array.degraded()) {
            // A run of neighbouring chunks that need syncing, up to one window of the throttle (at
            // least one chunk): small chunks (1 MiB) copied one by one would never have more than
            // one read in flight.
            long runBytes = throttle.windowBytes();
            long last = chunk - 1;
            while (last + 1 < bitmap.chunks() && (last < chunk || (last + 2 - chunk) * chunkBytes <= runBytes)
                    && bitmap.startSync(last + 1)) {
                last++;
            }
            if (last >= chunk) {
                long from = chunk * chunkBytes;
                long to = Math.min(array.size(), (last + 1) * chunkBytes);
                announcedEnd = announcer.announce(from, to, announcedEnd, chunkBytes);
                boolean ok = false;
                try {
                    ok = copier.copyRange(from, to, null, n -> advance(done[0] += n));
                } finally {
                    for (long c = chunk; c <= last; c++) {
                        bitmap.endSync(c, ok);
                    }
                }
                resyncCheckpoint = to;
                if (bitmap.pages() == 0 && nanoTime.getAsLong() - lastCheckpoint > CHECKPOINT_NANOS
                        && array.checkpointResync(to / 512)) {
                    waits.await(array.updateSuperblocks(), () -> "the superblock update of the resync checkpoint");
                    lastCheckpoint = nanoTime.getAsLong();
                }
            }
            chunk = bitmap.nextChunkNeedingSync(Math.max(chunk, last) + 1);
        }
        if (!stop && !array.degraded()) {
            resyncCheckpoint = Long.MAX_VALUE;
            LOG.log(System.Logger.Level.INFO, "{0}: resync done ({1} MiB)", array.name(),
                    String.valueOf(done[0] >> 20));
        }
    }

    /** Bytes of the chunks that need syncing now (what a pass will copy). */
    private long neededBytes(BitmapOps bitmap) {
        long bytes = 0;
        long cb = bitmap.chunkBytes();
        for (long c = bitmap.nextChunkNeedingSync(0); c >= 0; c = bitmap.nextChunkNeedingSync(c + 1)) {
            bytes += Math.min(array.size(), (c + 1) * cb) - c * cb;
        }
        return bytes;
    }

    // ------------------------------------------------------------------ recovery

    /**
     * Recovery: rebuild every REBUILDING member (full from its recovery offset, or bitmap chunks).
     * On a cluster one node recovers at a time, as it resyncs: under the {@code resync} lock, with
     * its windows announced so the other nodes hold their writes there while a window is copied;
     * the others wait for the lock (status: REMOTE), and whoever gets it next continues from the
     * members' superblocks as the last recoverer left them (a recoverer that died or stopped is
     * replaced from its last checkpoint; one that finished leaves nothing to do).
     */
    private void recover() {
        if (rebuilding().isEmpty()) {
            return;
        }
        ClusterOperations cluster = array.cluster();
        boolean clustered = cluster.clustered();
        // The update that made the member rebuilding (its role, and on a cluster every node told)
        // comes first: a node that has not heard of the member yet does not write to it.
        waits.await(array.superblocksWritten(), () -> "the superblock update that starts the recovery");
        if (clustered) {
            begin(Action.RECOVER, 0, array.size());
            try {
                waits.during(CLUSTER_LOCK_WAIT, cluster::resyncStart);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        try {
            if (clustered) {
                waits.await(array.remoteChanges().reload(), () -> "re-reading the members' superblocks");
            }
            for (ArrayMember m : rebuilding()) {
                if (stop) {
                    return;
                }
                if (m.state != MemberState.REBUILDING) {
                    continue;
                }
                boolean ok = m.bitmapRecovery ? recoverFromBitmap(m) : recoverFully(m);
                if (stop || m.state != MemberState.REBUILDING) {
                    continue;
                }
                if (ok) {
                    waits.await(array.recoveryFinished(m), () -> "the superblock update that puts " + m.name()
                            + " in sync");
                } else {
                    LOG.log(System.Logger.Level.ERROR, "{0}: recovery could not copy every range; the member stays"
                            + " rebuilding (fail and re-add it to retry)", m.name());
                }
            }
        } finally {
            if (clustered) {
                announcer.settle();
                cluster.resyncFinish();
            }
        }
    }

    /** What a sync waiting for another node shows (status maps it to md's REMOTE). */
    public static final String CLUSTER_LOCK_WAIT = "the cluster's resync lock";

    private java.util.List<ArrayMember> rebuilding() {
        return array.membersSnapshot().stream().filter(m -> m.state == MemberState.REBUILDING).toList();
    }

    private boolean recoverFromBitmap(ArrayMember m) {
        BitmapOps bitmap = array.bitmap();
        if (array.cluster().clustered()) {
            // md's gather_bitmaps: what the other nodes wrote while the member was out is only in
            // their slots; it joins ours (their slots keep it) before anything is copied.
            waits.await(BitmapSlots.of(array).mergeOtherSlots(array.cluster().slotCount()),
                    () -> "reading the other nodes' bitmap slots");
        }
        long total = neededBytes(bitmap);
        begin(Action.RECOVER, 0, total);
        LOG.log(System.Logger.Level.INFO, "{0}: bitmap-based recovery of {1} MiB", m.name(),
                String.valueOf(total >> 20));
        long[] done = {0};
        boolean ok = true;
        long announcedEnd = -1;
        long chunk = bitmap.nextChunkNeedingSync(0);
        while (chunk >= 0 && !stop && m.state == MemberState.REBUILDING) {
            long from = chunk * bitmap.chunkBytes();
            long to = Math.min(array.size(), from + bitmap.chunkBytes());
            announcedEnd = announcer.announce(from, to, announcedEnd, bitmap.chunkBytes());
            ok &= copier.copyRange(from, to, m, n -> advance(done[0] += n));
            chunk = bitmap.nextChunkNeedingSync(chunk + 1);
        }
        return ok;
    }

    private boolean recoverFully(ArrayMember m) {
        long total = array.size();
        Personality layout = array.personality();
        long from = Math.min(total, layout.recoveryResumesAt(m.recoveryOffset));
        begin(Action.RECOVER, from, total);
        LOG.log(System.Logger.Level.INFO, "{0}: full recovery from byte {1}", m.name(), String.valueOf(from));
        long lastCheckpoint = nanoTime.getAsLong();
        boolean ok = true;
        long[] done = {from};
        long announcedEnd = -1;
        long chunkBytes = array.bitmap().chunkBytes();
        for (long pos = from; pos < total && !stop && m.state == MemberState.REBUILDING; ) {
            long to = Math.min(total, pos + WINDOW);
            announcedEnd = announcer.announce(pos, to, announcedEnd, chunkBytes);
            ok &= copier.copyRange(pos, to, m, n -> advance(done[0] += n));
            pos = to;
            // md's recovery_offset: everything below is current on the member
            m.recoveryOffset = Math.max(m.recoveryOffset, layout.recoveredMemberBytes(pos));
            if (nanoTime.getAsLong() - lastCheckpoint > CHECKPOINT_NANOS) {
                waits.await(array.updateSuperblocks(), () -> "the superblock update of the recovery checkpoint");
                lastCheckpoint = nanoTime.getAsLong();
            }
        }
        return ok;
    }

    // ------------------------------------------------------------------ check / repair

    /** Check (count) or repair (rewrite) differences between copies (md's mismatch_cnt in sectors). */
    private void check(boolean repair, SyncCheckpointStore.Saved resume) {
        Action action = repair ? Action.REPAIR : Action.CHECK;
        String word = action.name().toLowerCase();
        if (array.degraded()) {
            LOG.log(System.Logger.Level.WARNING, "{0}: the interrupted {1} is not resumed: the array is degraded",
                    array.name(), word);
            store.clear();
            return;
        }
        long total = array.size();
        long pos = resume == null ? 0 : Math.min(resume.positionBytes(), total);
        long found = resume == null ? 0 : resume.mismatches();
        mismatches = found;
        begin(action, pos, total);
        if (resume == null) {
            LOG.log(System.Logger.Level.INFO, "{0}: {1} started", array.name(), word);
        } else {
            LOG.log(System.Logger.Level.INFO, "{0}: {1} resumed at {2} MiB (mismatch_cnt so far {3})", array.name(),
                    word, String.valueOf(pos >> 20), String.valueOf(found));
        }
        store.save(new SyncCheckpointStore.Saved(action, pos, found));
        long lastSave = nanoTime.getAsLong();
        boolean finished = false;
        try {
            while (pos < total && !stop) {
                long to = Math.min(total, pos + throttle.windowBytes());
                found += copier.compareRange(pos, to, repair);
                mismatches = found;
                pos = to;
                advance(pos);
                if (nanoTime.getAsLong() - lastSave >= CHECK_SAVE_NANOS) {
                    store.save(new SyncCheckpointStore.Saved(action, pos, found));
                    lastSave = nanoTime.getAsLong();
                }
            }
            finished = pos >= total;
        } finally {
            if (finished) {
                store.clear();
                LOG.log(System.Logger.Level.INFO, "{0}: {1} done, mismatch_cnt {2}", array.name(), word,
                        String.valueOf(found));
                checksCompleted.incrementAndGet();
            } else {
                store.save(new SyncCheckpointStore.Saved(action, pos, found));
                LOG.log(System.Logger.Level.INFO, "{0}: {1} interrupted at {2} MiB; continues from there at the"
                        + " next start", array.name(), word, String.valueOf(pos >> 20));
            }
        }
    }
}
