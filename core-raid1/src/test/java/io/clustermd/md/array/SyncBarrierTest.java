package io.clustermd.md.array;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/** The resync barrier: windows wait for overlapping writes, writes wait for windows; disjoint ranges never wait. */
class SyncBarrierTest {

    @Test
    void raise_waitsForOverlappingWritesOnly() {
        SyncBarrier b = new SyncBarrier();
        long[] inside = b.enter(100, 50).join();
        long[] outside = b.enter(1000, 50).join();

        CompletableFuture<Void> window = b.raise(0, 200);
        assertThat(window).isNotDone();
        b.exit(outside);
        assertThat(window).isNotDone();
        b.exit(inside);
        assertThat(window).isDone();
    }

    @Test
    void enter_overlappingARaisedWindow_waitsUntilLowered() {
        SyncBarrier b = new SyncBarrier();
        b.raise(0, 200).join();

        CompletableFuture<long[]> blocked = b.enter(150, 100);
        CompletableFuture<long[]> free = b.enter(300, 100);
        assertThat(blocked).isNotDone();
        assertThat(free).isDone();

        b.lower();
        assertThat(blocked).isDone();
        // the released write now counts as in flight: a new window over it waits for its exit
        CompletableFuture<Void> again = b.raise(100, 100);
        assertThat(again).isNotDone();
        b.exit(blocked.join());
        assertThat(again).isDone();
    }
}
