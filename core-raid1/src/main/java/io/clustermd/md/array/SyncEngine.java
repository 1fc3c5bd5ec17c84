package io.clustermd.md.array;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * md's sync thread ({@code md_do_sync} with raid1/raid10 {@code sync_request}): resync of dirty
 * regions, recovery of rebuilding members, and check/repair. One action at a time, on its own
 * thread, in windows guarded by the {@link SyncBarrier}; throttled with md's speed_limit_min/max
 * (KiB/s): at the maximum while the array is idle, at the minimum while foreground I/O runs.
 */
public final class SyncEngine {

    private static final System.Logger LOG = System.getLogger(SyncEngine.class.getName());
    /** Bytes copied per barrier window. */
    static final int WINDOW = 1 << 20;
    /** Checkpoint progress in the superblock this often (md: every few seconds). */
    static final long CHECKPOINT_NANOS = 5_000_000_000L;

    /** What the sync thread is doing (md's sync_action). */
    public enum Action { IDLE, RESYNC, RECOVER, CHECK, REPAIR }

    /** Progress for status. */
    public record Progress(Action action, long doneBytes, long totalBytes, long bytesPerSecond, long startedNanos) {
    }

    private final MdArray array;
    private final long minBytesPerSecond;
    private final long maxBytesPerSecond;
    private final Object lock = new Object();
    private Thread thread;
    private volatile boolean stop;
    private boolean recoveryRequested;
    private Action checkRequested;
    private volatile Progress progress = new Progress(Action.IDLE, 0, 0, 0, 0);
    private volatile long mismatches;
    private final java.util.concurrent.atomic.AtomicLong checksCompleted = new java.util.concurrent.atomic.AtomicLong();
    private volatile long resyncCheckpoint = Long.MAX_VALUE;

    SyncEngine(MdArray array, long minKiB, long maxKiB) {
        this.array = array;
        this.minBytesPerSecond = Math.max(1, minKiB) * 1024;
        this.maxBytesPerSecond = Math.max(minKiB, maxKiB) * 1024;
    }

    void start() {
        synchronized (lock) {
            recoveryRequested = true;
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
            lock.notifyAll();
        }
    }

    Progress progress() {
        return progress;
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

    void stop() {
        Thread t;
        synchronized (lock) {
            stop = true;
            lock.notifyAll();
            t = thread;
        }
        if (t != null) {
            try {
                t.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run() {
        while (!stop) {
            Action next;
            synchronized (lock) {
                while (!stop && !recoveryRequested && checkRequested == null) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (stop) {
                    return;
                }
                next = checkRequested != null ? checkRequested : Action.RESYNC;
                checkRequested = null;
                recoveryRequested = false;
            }
            try {
                if (next == Action.CHECK || next == Action.REPAIR) {
                    check(next == Action.REPAIR);
                } else {
                    recover();
                    resync();
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "sync of " + array.name() + " stopped: " + MdArray.rootMessage(e));
            } finally {
                progress = new Progress(Action.IDLE, 0, 0, 0, 0);
            }
        }
    }

    /** Resync: copy every chunk the bitmap marks from the first in-sync member to the others. */
    private void resync() {
        BitmapOps bitmap = array.bitmap();
        long chunk = bitmap.nextChunkNeedingSync(0);
        if (chunk < 0 || array.degraded()) {
            return; // degraded: the bits stay until the missing member is back
        }
        try {
            array.cluster().resyncStart();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        long total = bitmap.dirtyChunks() * bitmap.chunkBytes();
        long done = 0;
        long started = System.nanoTime();
        long lastCheckpoint = started;
        progress = new Progress(Action.RESYNC, 0, total, 0, started);
        LOG.log(System.Logger.Level.INFO, "{0}: resync of {1} chunk(s) started", array.name(), bitmap.dirtyChunks());
        try {
            while (chunk >= 0 && !stop) {
                if (bitmap.startSync(chunk)) {
                    long from = chunk * bitmap.chunkBytes();
                    long to = Math.min(array.size(), from + bitmap.chunkBytes());
                    array.cluster().resyncInfoUpdate(from / 512, to / 512);
                    boolean ok = copyRange(from, to, null, started);
                    bitmap.endSync(chunk, ok);
                    done += to - from;
                    resyncCheckpoint = to;
                    progress = new Progress(Action.RESYNC, done, total, rate(done, started), started);
                    if (bitmap.pages() == 0 && System.nanoTime() - lastCheckpoint > CHECKPOINT_NANOS) {
                        array.checkpointResync(to / 512);
                        array.updateSuperblocks().join();
                        lastCheckpoint = System.nanoTime();
                    }
                }
                chunk = bitmap.nextChunkNeedingSync(chunk + 1);
            }
            if (!stop) {
                resyncCheckpoint = Long.MAX_VALUE;
                LOG.log(System.Logger.Level.INFO, "{0}: resync done ({1} MiB)", array.name(), done >> 20);
            }
        } finally {
            array.cluster().resyncInfoUpdate(0, 0);
            array.cluster().resyncFinish();
        }
    }

    /** Recovery: rebuild every REBUILDING member (full from its recovery offset, or bitmap chunks). */
    private void recover() {
        for (ArrayMember m : array.membersSnapshot()) {
            if (stop || m.state != MemberState.REBUILDING) {
                continue;
            }
            long started = System.nanoTime();
            long lastCheckpoint = started;
            BitmapOps bitmap = array.bitmap();
            if (m.bitmapRecovery) {
                long total = bitmap.dirtyChunks() * bitmap.chunkBytes();
                long done = 0;
                progress = new Progress(Action.RECOVER, 0, total, 0, started);
                LOG.log(System.Logger.Level.INFO, "{0}: bitmap-based recovery of {1} chunk(s)", m.name(),
                        bitmap.dirtyChunks());
                long chunk = bitmap.nextChunkNeedingSync(0);
                while (chunk >= 0 && !stop && m.state == MemberState.REBUILDING) {
                    long from = chunk * bitmap.chunkBytes();
                    long to = Math.min(array.size(), from + bitmap.chunkBytes());
                    copyRange(from, to, m, started);
                    done += to - from;
                    progress = new Progress(Action.RECOVER, done, total, rate(done, started), started);
                    chunk = bitmap.nextChunkNeedingSync(chunk + 1);
                }
            } else {
                long total = array.size();
                long from = array.personality().level() == 1 ? m.recoveryOffset : 0;
                progress = new Progress(Action.RECOVER, from, total, 0, started);
                LOG.log(System.Logger.Level.INFO, "{0}: full recovery from byte {1}", m.name(), from);
                for (long pos = from; pos < total && !stop && m.state == MemberState.REBUILDING; ) {
                    long to = Math.min(total, pos + WINDOW);
                    copyRange(pos, to, m, started);
                    pos = to;
                    if (array.personality().level() == 1) {
                        m.recoveryOffset = pos;
                    }
                    progress = new Progress(Action.RECOVER, pos, total, rate(pos - from, started), started);
                    if (System.nanoTime() - lastCheckpoint > CHECKPOINT_NANOS) {
                        array.updateSuperblocks().join();
                        lastCheckpoint = System.nanoTime();
                    }
                }
            }
            if (!stop && m.state == MemberState.REBUILDING) {
                array.recoveryFinished(m).join();
            }
        }
    }

    /** Check (count) or repair (rewrite) differences between copies (md's mismatch_cnt in sectors). */
    private void check(boolean repair) {
        long total = array.size();
        long started = System.nanoTime();
        long found = 0;
        mismatches = 0;
        Action action = repair ? Action.REPAIR : Action.CHECK;
        progress = new Progress(action, 0, total, 0, started);
        LOG.log(System.Logger.Level.INFO, "{0}: {1} started", array.name(), action.name().toLowerCase());
        for (long pos = 0; pos < total && !stop; ) {
            long to = Math.min(total, pos + WINDOW);
            found += compareRange(pos, to, repair, started);
            mismatches = found;
            pos = to;
            progress = new Progress(action, pos, total, rate(pos, started), started);
        }
        LOG.log(System.Logger.Level.INFO, "{0}: {1} done, mismatch_cnt {2}", array.name(),
                action.name().toLowerCase(), found);
        checksCompleted.incrementAndGet();
    }

    /**
     * Copies {@code [from, to)} of the array from the first readable copy to the other writable
     * copies ({@code only}: to that member alone), window by window under the barrier.
     */
    private boolean copyRange(long from, long to, ArrayMember only, long started) {
        boolean ok = true;
        for (long pos = from; pos < to && !stop; ) {
            long end = Math.min(to, pos + WINDOW);
            throttle();
            array.barrier().raise(pos, end - pos).join();
            try {
                for (Personality.Piece piece : array.personality().map(pos, end - pos)) {
                    ok &= copyPiece(piece, only);
                }
            } finally {
                array.barrier().lower();
            }
            pos = end;
        }
        return ok;
    }

    private boolean copyPiece(Personality.Piece piece, ArrayMember only) {
        ArrayMember source = null;
        long sourceOffset = 0;
        List<ArrayMember> targets = new ArrayList<>();
        List<Long> targetOffsets = new ArrayList<>();
        for (Personality.Extent e : piece.copies()) {
            ArrayMember m = array.slotMember(e.slot());
            if (m == null) {
                continue;
            }
            if (source == null && m.state == MemberState.IN_SYNC && m != only) {
                source = m;
                sourceOffset = e.memberOffset();
            } else if (m.writable() && (only == null || m == only)) {
                targets.add(m);
                targetOffsets.add(e.memberOffset());
            }
        }
        if (source == null || targets.isEmpty()) {
            return source != null;
        }
        ByteBuffer buf = source.device.allocate((int) piece.length());
        try {
            source.device.read(buf, source.dataOffsetBytes() + sourceOffset).join();
        } catch (RuntimeException e) {
            array.failMembers(List.of(source), "read error during sync").join();
            return false;
        }
        boolean ok = true;
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            writes.add(targets.get(i).device.write(buf.duplicate(), targets.get(i).dataOffsetBytes()
                    + targetOffsets.get(i), false));
        }
        List<ArrayMember> failed = new ArrayList<>();
        for (int i = 0; i < writes.size(); i++) {
            try {
                writes.get(i).join();
            } catch (RuntimeException e) {
                failed.add(targets.get(i));
                ok = false;
            }
        }
        if (!failed.isEmpty()) {
            array.failMembers(failed, "write error during sync").join();
        }
        return ok;
    }

    private long compareRange(long from, long to, boolean repair, long started) {
        throttle();
        long found = 0;
        array.barrier().raise(from, to - from).join();
        try {
            for (Personality.Piece piece : array.personality().map(from, to - from)) {
                List<ArrayMember> copies = new ArrayList<>();
                List<ByteBuffer> data = new ArrayList<>();
                List<Long> offsets = new ArrayList<>();
                for (Personality.Extent e : piece.copies()) {
                    ArrayMember m = array.slotMember(e.slot());
                    if (m == null || m.state != MemberState.IN_SYNC) {
                        continue;
                    }
                    ByteBuffer buf = m.device.allocate((int) piece.length());
                    m.device.read(buf, m.dataOffsetBytes() + e.memberOffset()).join();
                    copies.add(m);
                    data.add(buf);
                    offsets.add(e.memberOffset());
                }
                for (int i = 1; i < copies.size(); i++) {
                    long differing = differingSectors(data.get(0), data.get(i));
                    found += differing;
                    if (repair && differing > 0) {
                        copies.get(i).device.write(data.get(0).duplicate(),
                                copies.get(i).dataOffsetBytes() + offsets.get(i), false).join();
                    }
                }
            }
        } finally {
            array.barrier().lower();
        }
        return found;
    }

    /** 512-byte sectors of 4 KiB blocks that differ, as md counts whole blocks. */
    static long differingSectors(ByteBuffer a, ByteBuffer b) {
        long sectors = 0;
        int len = Math.min(a.remaining(), b.remaining());
        for (int off = 0; off < len; off += 4096) {
            int n = Math.min(4096, len - off);
            if (a.slice(a.position() + off, n).mismatch(b.slice(b.position() + off, n)) >= 0) {
                sectors += (n + 511) / 512;
            }
        }
        return sectors;
    }

    /** md's speed limits: max when idle, min while foreground I/O runs. */
    private long lastForeground = -1;
    private long lastForegroundCheck;
    private long budgetStart;
    private long budgetBytes;

    private void throttle() {
        long now = System.nanoTime();
        long fg = array.foregroundBytes();
        boolean busy = lastForeground >= 0 && fg != lastForeground;
        if (now - lastForegroundCheck > 100_000_000L) {
            lastForeground = fg;
            lastForegroundCheck = now;
        }
        long limit = busy ? minBytesPerSecond : maxBytesPerSecond;
        if (budgetStart == 0 || now - budgetStart > 1_000_000_000L) {
            budgetStart = now;
            budgetBytes = 0;
        }
        budgetBytes += WINDOW;
        long allowedNanos = budgetBytes * 1_000_000_000L / limit;
        long sleep = allowedNanos - (now - budgetStart);
        if (sleep > 0) {
            try {
                Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static long rate(long bytes, long startedNanos) {
        long elapsed = Math.max(1, System.nanoTime() - startedNanos);
        return bytes * 1_000_000_000L / elapsed;
    }
}
