package io.clustermd.md.array;

import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * md's resync throttle: the speed check of {@code md_do_sync} with {@code is_mddev_idle}. The sync
 * thread asks {@link #admit} before every window; while foreground I/O runs the sync is paced at
 * {@code speed_limit_min}, once the array is idle at {@code speed_limit_max}.
 *
 * <p>Idle detection follows md's {@code is_mddev_idle}: the array is busy when more than 32 sectors
 * of foreground I/O (anything but the sync's own) happened since the last look. Looks are at least
 * {@link #SAMPLE_NANOS} apart, so the array counts as idle after one quiet sample period, and busy
 * again as soon as foreground I/O passes the threshold within a period.
 *
 * <p>Pacing is a token bucket refilled at the current limit and holding at most
 * {@link #BURST_NANOS} worth of it (at least one window). md re-measures its speed over the last
 * marks and sleeps 500 ms at a time; a bucket gives the same average with shorter sleeps. What the
 * bucket must never do is price the bytes copied at the maximum rate at the minimum rate when the
 * array turns busy: the bucket only holds credit, never debt beyond the window asked for, so the
 * longest wait is one window at the minimum rate. Waits are sliced ({@link #SLICE_NANOS}): after
 * every slice the idle state, the limit and the stop request are looked at again.
 *
 * <p>Not thread-safe: one sync thread calls it. Time and sleeping are injected.
 */
final class SyncThrottle {

    /** md's is_mddev_idle: more than 32 sectors of foreground I/O since the last look means busy. */
    static final long BUSY_BYTES = 32 * 512;
    /** Shortest period over which foreground I/O is sampled. */
    static final long SAMPLE_NANOS = 100_000_000L;
    /**
     * A busy array is called idle again only after this long without foreground I/O (md sleeps
     * 500 ms before it looks again): a writer that the machine's load slows to a few requests per
     * sample would otherwise flip the sync to full windows and back several times a second.
     */
    static final long QUIET_NANOS = 500_000_000L;
    /** Longest single sleep before everything is looked at again. */
    static final long SLICE_NANOS = 50_000_000L;
    /** Credit the bucket may hold, as time at the current limit (it always holds at least one window). */
    static final long BURST_NANOS = 100_000_000L;
    /** Smallest window handed out (md's RESYNC_BLOCK_SIZE). */
    static final int MIN_WINDOW = 64 << 10;

    /** Sleeps up to the given time; may return early (a stop request wakes it). */
    interface Sleeper {
        void sleep(long nanos) throws InterruptedException;
    }

    private final long minBytesPerSecond;
    private final long maxBytesPerSecond;
    private final int maxWindow;
    private final LongSupplier foregroundBytes;
    private final LongSupplier foregroundHeld;
    private final LongSupplier nanoTime;
    private final Sleeper sleeper;

    private boolean sampled;
    private long sampleStart;
    private long sampleBytes;
    private long sampleHeld;
    private boolean busy;
    private double tokens;
    private long refilledAt;
    private boolean filled;

    /**
     * @param minKiB          md's speed_limit_min (KiB/s): the floor while foreground I/O runs
     * @param maxKiB          md's speed_limit_max (KiB/s): the rate while the array is idle
     * @param maxWindow       largest window the sync copies at once
     * @param foregroundBytes bytes of foreground I/O so far (never the sync's own)
     * @param foregroundHeld  foreground requests so far that had to wait for a sync window (md's
     *                        {@code nr_waiting}): one is enough to call the array busy, since a
     *                        writer held back by the windows submits little and would look idle
     */
    SyncThrottle(long minKiB, long maxKiB, int maxWindow, LongSupplier foregroundBytes, LongSupplier foregroundHeld,
                 LongSupplier nanoTime, Sleeper sleeper) {
        this.minBytesPerSecond = Math.max(1, minKiB) * 1024;
        this.maxBytesPerSecond = Math.max(Math.max(1, minKiB), maxKiB) * 1024;
        this.maxWindow = maxWindow;
        this.foregroundBytes = foregroundBytes;
        this.foregroundHeld = foregroundHeld;
        this.nanoTime = nanoTime;
        this.sleeper = sleeper;
    }

    /** A throttle that sees foreground bytes only (nothing is ever held by a window). */
    SyncThrottle(long minKiB, long maxKiB, int maxWindow, LongSupplier foregroundBytes, LongSupplier nanoTime,
                 Sleeper sleeper) {
        this(minKiB, maxKiB, maxWindow, foregroundBytes, () -> 0, nanoTime, sleeper);
    }

    /**
     * The size of the next window: about a quarter second at the limit in force (the maximum rate
     * while idle, the minimum while busy), at least {@link #MIN_WINDOW} and at most the full window,
     * so progress and speed move several times a second and foreground writes wait behind a smaller
     * window while the array is busy.
     */
    int windowBytes() {
        look(nanoTime.getAsLong());
        long quarter = (busy ? minBytesPerSecond : maxBytesPerSecond) / 4 / MIN_WINDOW * MIN_WINDOW;
        return (int) Math.max(MIN_WINDOW, Math.min(maxWindow, quarter));
    }

    /**
     * Waits until a window of {@code bytes} may be copied at the current limit.
     *
     * @return false when {@code stopping} became true while waiting (nothing admitted)
     */
    boolean admit(long bytes, BooleanSupplier stopping) throws InterruptedException {
        for (;;) {
            if (stopping.getAsBoolean()) {
                return false;
            }
            long now = nanoTime.getAsLong();
            look(now);
            long limit = limit();
            refill(now, limit, bytes);
            if (tokens >= bytes) {
                tokens -= bytes;
                return true;
            }
            long missing = (long) Math.ceil((bytes - tokens) * 1e9 / limit);
            sleeper.sleep(Math.max(1, Math.min(SLICE_NANOS, missing)));
        }
    }

    /** True when the last look found foreground I/O (md: !is_mddev_idle). */
    boolean busy() {
        return busy;
    }

    /** The limit in force now, bytes per second. */
    long limit() {
        return busy ? minBytesPerSecond : maxBytesPerSecond;
    }

    /** is_mddev_idle over the current sample period. */
    private void look(long now) {
        long fg = foregroundBytes.getAsLong();
        long held = foregroundHeld.getAsLong();
        if (!sampled) {
            sampled = true;
            sampleStart = now;
            sampleBytes = fg;
            sampleHeld = held;
            return;
        }
        long delta = fg - sampleBytes;
        if (delta > BUSY_BYTES || held != sampleHeld) {
            busy = true;
            sampleStart = now;
            sampleBytes = fg;
            sampleHeld = held;
        } else if (now - sampleStart >= (busy ? QUIET_NANOS : SAMPLE_NANOS)) {
            busy = false;
            sampleStart = now;
            sampleBytes = fg;
            sampleHeld = held;
        }
    }

    private void refill(long now, long limit, long bytes) {
        double capacity = Math.max(bytes, limit * (double) BURST_NANOS / 1e9);
        if (!filled) {
            filled = true;
            refilledAt = now;
            tokens = bytes;
            return;
        }
        tokens = Math.min(capacity, tokens + (now - refilledAt) * (double) limit / 1e9);
        refilledAt = now;
    }
}
