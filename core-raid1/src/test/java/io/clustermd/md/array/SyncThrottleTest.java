package io.clustermd.md.array;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The resync throttle on a simulated clock: the sync thread's windows, foreground I/O at a chosen
 * rate, and the sleeps all advance the same fake time, so rates and reaction times are exact.
 */
class SyncThrottleTest {

    static final long SECOND = 1_000_000_000L;
    static final long MIN_KIB = 1000;
    static final long MAX_KIB = 200_000;

    private long now = 7 * SECOND;
    private double foreground;
    private long foregroundBytesPerSecond;
    private boolean stop;
    private int sleeps;
    private long held;

    private SyncThrottle throttle() {
        return new SyncThrottle(MIN_KIB, MAX_KIB, SyncEngine.WINDOW, () -> (long) foreground, () -> held, () -> now,
                n -> {
                    sleeps++;
                    advance(n);
                });
    }

    private void advance(long nanos) {
        now += nanos;
        foreground += foregroundBytesPerSecond * (double) nanos / SECOND;
    }

    /** The sync loop for {@code nanos} of simulated time; each window costs {@code copyNanos}. Bytes admitted. */
    private long run(SyncThrottle t, long nanos, long copyNanos) throws InterruptedException {
        long end = now + nanos;
        long bytes = 0;
        while (now < end) {
            int w = t.windowBytes();
            assertThat(t.admit(w, () -> stop)).isTrue();
            bytes += w;
            advance(copyNanos);
        }
        return bytes;
    }

    @Test
    void admit_idleArray_copiesAtSpeedLimitMax() throws Exception {
        SyncThrottle t = throttle();
        long bytes = run(t, 5 * SECOND, 0);
        // the first window is admitted at once (the bucket starts full): give or take one window
        assertThat(bytes / 5.0).isBetween(0.97 * MAX_KIB * 1024, 1.03 * MAX_KIB * 1024 + SyncEngine.WINDOW / 5.0);
        assertThat(t.busy()).isFalse();
    }

    @Test
    void admit_continuousForegroundIo_keepsSpeedLimitMin() throws Exception {
        SyncThrottle t = throttle();
        foregroundBytesPerSecond = 20 << 20;
        run(t, SECOND, 100_000);
        long bytes = run(t, 10 * SECOND, 100_000);
        assertThat(bytes / 10.0).isBetween(0.95 * MIN_KIB * 1024, 1.1 * MIN_KIB * 1024);
        assertThat(t.busy()).isTrue();
    }

    @Test
    void admit_foregroundStartsAfterASecondAtMax_waitsOneSmallWindowNotTheSecondsCopied() throws Exception {
        SyncThrottle t = throttle();
        run(t, SECOND, 1_000_000);
        foregroundBytesPerSecond = 4 << 20;
        advance(10_000_000); // 40 KiB of foreground I/O: busy by md's measure
        long before = now;
        int w = t.windowBytes();
        assertThat(t.admit(w, () -> stop)).isTrue();
        // Pricing the second at full speed at the minimum rate instead would wait ~190 s.
        assertThat(now - before).isLessThanOrEqualTo(SECOND / 2);
        assertThat(t.busy()).isTrue();
    }

    @Test
    void admit_foregroundStops_fullSpeedWithinASecond() throws Exception {
        SyncThrottle t = throttle();
        foregroundBytesPerSecond = 20 << 20;
        run(t, 3 * SECOND, 100_000);
        foregroundBytesPerSecond = 0;
        long stopped = now;
        while (t.busy() || t.windowBytes() < SyncEngine.WINDOW) {
            assertThat(t.admit(t.windowBytes(), () -> stop)).isTrue();
            advance(100_000);
        }
        assertThat(now - stopped).isLessThan(SECOND);
        long bytes = run(t, SECOND, 0);
        assertThat(bytes).isGreaterThanOrEqualTo((long) (0.95 * MAX_KIB * 1024));
    }

    /**
     * A writer that waits behind the sync windows submits almost nothing, so by bytes alone the array
     * would look idle and the sync would keep taking full windows: one write held by a window is
     * enough to call it busy (md's nr_waiting), and the windows shrink to the busy size.
     */
    @Test
    void windowBytes_writeHeldByAWindow_busyAndSmallWindows() throws Exception {
        SyncThrottle t = throttle();
        assertThat(t.windowBytes()).isEqualTo(SyncEngine.WINDOW);
        advance(10_000_000);
        held++;                                   // one 4 KiB write waited: far below md's 32 sectors
        int w = t.windowBytes();
        assertThat(t.busy()).isTrue();
        assertThat(w).isLessThan(SyncEngine.WINDOW).isLessThanOrEqualTo((int) (MIN_KIB * 1024 / 4));
        advance(SyncThrottle.QUIET_NANOS + 1);    // nothing more held: idle again after a quiet half second
        t.windowBytes();
        assertThat(t.busy()).isFalse();
    }

    @Test
    void admit_foregroundBelowMdIdleThreshold_staysIdle() throws Exception {
        SyncThrottle t = throttle();
        foregroundBytesPerSecond = 64 << 10; // 6.4 KiB per 100 ms sample: under md's 32 sectors
        long bytes = run(t, 2 * SECOND, 0);
        assertThat(t.busy()).isFalse();
        assertThat(bytes / 2.0).isGreaterThan(0.95 * MAX_KIB * 1024);
    }

    @Test
    void admit_stopRequestedWhileWaiting_returnsFalseAfterOneSlice() throws Exception {
        SyncThrottle t = throttle();
        foregroundBytesPerSecond = 20 << 20;
        run(t, SECOND, 100_000);
        SyncThrottle.Sleeper stopper = n -> {
            sleeps++;
            advance(n);
            stop = true;
        };
        SyncThrottle s = new SyncThrottle(MIN_KIB, MAX_KIB, SyncEngine.WINDOW, () -> (long) foreground, () -> now,
                stopper);
        s.admit(SyncEngine.WINDOW, () -> stop);           // credit for one window
        long before = now;
        sleeps = 0;
        assertThat(s.admit(SyncEngine.WINDOW, () -> stop)).isFalse();
        assertThat(sleeps).isEqualTo(1);
        assertThat(now - before).isLessThanOrEqualTo(SyncThrottle.SLICE_NANOS);
    }

    @Test
    void windowBytes_busy_aboutAQuarterSecondAtSpeedLimitMin() throws Exception {
        SyncThrottle t = throttle();
        assertThat(t.windowBytes()).isEqualTo(SyncEngine.WINDOW);
        foregroundBytesPerSecond = 20 << 20;
        advance(SECOND / 10);
        assertThat(t.windowBytes()).isEqualTo(192 << 10); // 1000 KiB/s / 4, in 64 KiB units
    }
}
