package io.clustermd.md.array;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** md's sync_speed from marks, on explicit timestamps. */
class SyncSpeedTest {

    static final long SECOND = 1_000_000_000L;

    @Test
    void bytesPerSecond_steadyProgress_isTheRate() {
        SyncSpeed s = new SyncSpeed();
        long t = 5 * SECOND;
        s.start(t, 0);
        for (int i = 1; i <= 100; i++) {
            s.record(t + i * SECOND / 10, i * 1_000_000L); // 10 MB/s
        }
        assertThat(s.bytesPerSecond(t + 10 * SECOND)).isBetween(9_900_000L, 10_100_000L);
    }

    @Test
    void bytesPerSecond_progressStops_fallsWhileNothingMoves() {
        SyncSpeed s = new SyncSpeed();
        long t = 0;
        s.start(t, 0);
        for (int i = 1; i <= 50; i++) {
            s.record(t + i * SECOND / 10, i * 1_000_000L);
        }
        long moving = s.bytesPerSecond(t + 5 * SECOND);
        long stalled = s.bytesPerSecond(t + 15 * SECOND);
        assertThat(moving).isGreaterThan(9_000_000L);
        assertThat(stalled).isLessThan(moving / 3);
    }

    @Test
    void bytesPerSecond_changeOfRate_followedWithinThreeSeconds() {
        SyncSpeed s = new SyncSpeed();
        s.start(0, 0);
        long done = 0;
        long t = 0;
        for (int i = 0; i < 100; i++) {  // 10 s at 1 MB/s
            t += SECOND / 10;
            done += 100_000;
            s.record(t, done);
        }
        for (int i = 0; i < 40; i++) {   // then 4 s at 100 MB/s
            t += SECOND / 10;
            done += 10_000_000;
            s.record(t, done);
        }
        assertThat(s.bytesPerSecond(t)).isBetween(95_000_000L, 101_000_000L);
    }
}
