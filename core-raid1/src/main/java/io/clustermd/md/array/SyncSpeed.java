package io.clustermd.md.array;

/**
 * md's {@code sync_speed}: the rate over the last few seconds, from marks of (time, bytes done)
 * taken about once a second (md's {@code resync_mark}/{@code resync_mark_cnt}, SYNC_MARKS marks
 * SYNC_MARK_STEP apart; here 3 marks 1 s apart, so the figure follows a change within seconds).
 * Computed when read, so a sync that stopped moving shows its speed falling rather than frozen.
 * Thread-safe: the sync thread records, status readers read.
 */
final class SyncSpeed {

    static final int MARKS = 3;
    static final long MARK_STEP_NANOS = 1_000_000_000L;

    private final long[] markNanos = new long[MARKS];
    private final long[] markBytes = new long[MARKS];
    private int last;
    private boolean started;
    private long lastNanos;
    private long lastBytes;

    /** A new action starts at {@code doneBytes}. */
    synchronized void start(long nowNanos, long doneBytes) {
        java.util.Arrays.fill(markNanos, nowNanos);
        java.util.Arrays.fill(markBytes, doneBytes);
        last = 0;
        started = true;
        lastNanos = nowNanos;
        lastBytes = doneBytes;
    }

    /** Progress of the running action. */
    synchronized void record(long nowNanos, long doneBytes) {
        lastNanos = nowNanos;
        lastBytes = doneBytes;
        if (nowNanos - markNanos[last] >= MARK_STEP_NANOS) {
            last = (last + 1) % MARKS;
            markNanos[last] = nowNanos;
            markBytes[last] = doneBytes;
        }
    }

    /** Bytes per second since the oldest mark, as of {@code nowNanos}. */
    synchronized long bytesPerSecond(long nowNanos) {
        if (!started) {
            return 0;
        }
        int oldest = (last + 1) % MARKS;
        long elapsed = Math.max(nowNanos, lastNanos) - markNanos[oldest];
        if (elapsed <= 0) {
            return 0;
        }
        return (long) ((lastBytes - markBytes[oldest]) * 1e9 / elapsed);
    }
}
