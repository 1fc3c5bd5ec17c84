package io.clustermd.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InFlightBudgetTest {

    /** Records its wake-ups. */
    private static final class Recorder implements InFlightBudget.Waiter {
        final String name;
        final List<String> log;

        Recorder(String name, List<String> log) {
            this.name = name;
            this.log = log;
        }

        @Override
        public void wake() {
            log.add(name);
        }
    }

    @Test
    void tryAcquire_withinLimits_takesAndCountsPeaks() {
        InFlightBudget b = new InFlightBudget(2, 100);
        List<String> log = new ArrayList<>();
        Recorder a = new Recorder("a", log);
        assertThat(b.tryAcquire(a, 60)).isTrue();
        assertThat(b.tryAcquire(a, 40)).isTrue();
        b.release(60);
        assertThat(b.stats()).isEqualTo(new InFlightBudget.Stats(1, 40, 2, 100, 0, 2, 100));
    }

    @Test
    void tryAcquire_overRequestsOrBytes_queuesOnceAndReleaseWakesTheFirst() {
        InFlightBudget b = new InFlightBudget(1, 100);
        List<String> log = new ArrayList<>();
        Recorder a = new Recorder("a", log);
        Recorder c = new Recorder("c", log);
        assertThat(b.tryAcquire(a, 10)).isTrue();
        assertThat(b.tryAcquire(c, 10)).isFalse();
        assertThat(b.tryAcquire(c, 10)).isFalse();
        assertThat(b.stats().waiting()).isEqualTo(1);
        b.release(10);
        assertThat(log).containsExactly("c");
    }

    @Test
    void tryAcquire_whileSomeoneWaits_newcomerQueuesBehindEvenIfItWouldFit() {
        InFlightBudget b = new InFlightBudget(10, 100);
        List<String> log = new ArrayList<>();
        Recorder big = new Recorder("big", log);
        Recorder small = new Recorder("small", log);
        Recorder holder = new Recorder("holder", log);
        assertThat(b.tryAcquire(holder, 50)).isTrue();
        assertThat(b.tryAcquire(big, 80)).isFalse();          // does not fit: queued first
        assertThat(b.tryAcquire(small, 10)).isFalse();        // would fit, but the big one is first
        b.release(50);
        assertThat(log).containsExactly("big");
        assertThat(b.tryAcquire(big, 80)).isTrue();           // leaves the queue, wakes the next
        assertThat(log).containsExactly("big", "small");
        assertThat(b.tryAcquire(small, 10)).isTrue();
    }

    @Test
    void forget_theFirstWaiter_wakesTheNext() {
        InFlightBudget b = new InFlightBudget(1, 100);
        List<String> log = new ArrayList<>();
        Recorder holder = new Recorder("holder", log);
        Recorder a = new Recorder("a", log);
        Recorder c = new Recorder("c", log);
        assertThat(b.tryAcquire(holder, 1)).isTrue();
        assertThat(b.tryAcquire(a, 1)).isFalse();
        assertThat(b.tryAcquire(c, 1)).isFalse();
        b.forget(a);
        assertThat(log).containsExactly("c");
        assertThat(b.stats().waiting()).isEqualTo(1);
    }
}
