package io.clustermd.md.array;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Keeps resync and foreground writes apart (md raid1's barrier: {@code raise_barrier} /
 * {@code wait_barrier}): while a sync window is raised, writes that overlap it wait; a window is
 * raised only once the writes already in flight in it have finished. Never blocks a thread: both
 * sides get futures, because writes arrive on network event loops.
 */
public final class SyncBarrier {

    private final List<long[]> inflight = new ArrayList<>();   // {offset, end} of running writes
    private long windowStart = -1;
    private long windowEnd = -1;
    private CompletableFuture<Void> windowReady;               // raise() waiting for writes to drain
    private final Deque<Waiter> waitingWrites = new ArrayDeque<>();
    private final List<Drain> drains = new ArrayList<>();
    /** Writes so far that had to wait for a sync window (md's {@code nr_waiting}, summed). */
    private long writesHeld;

    /** {@link #drained} waiting for the writes that were running when it was asked. */
    private record Drain(List<long[]> running, CompletableFuture<Void> future) {
    }

    private record Waiter(long offset, long end, CompletableFuture<long[]> future) {
    }

    /** A write enters {@code [offset, offset+length)}; the future gives the token for {@link #exit}. */
    public synchronized CompletableFuture<long[]> enter(long offset, long length) {
        long end = offset + length;
        if (overlapsWindow(offset, end)) {
            CompletableFuture<long[]> f = new CompletableFuture<>();
            waitingWrites.add(new Waiter(offset, end, f));
            writesHeld++;
            return f;
        }
        long[] token = {offset, end};
        inflight.add(token);
        return CompletableFuture.completedFuture(token);
    }

    /** Writes so far that had to wait for a sync window: the sync throttle's sign of a busy array. */
    public synchronized long writesHeld() {
        return writesHeld;
    }

    /** The write holding {@code token} finished. */
    public void exit(long[] token) {
        CompletableFuture<Void> ready = null;
        List<CompletableFuture<Void>> drainedNow = new ArrayList<>();
        synchronized (this) {
            inflight.remove(token);
            if (windowReady != null && !inflightOverlaps(windowStart, windowEnd)) {
                ready = windowReady;
                windowReady = null;
            }
            for (var it = drains.iterator(); it.hasNext(); ) {
                Drain d = it.next();
                if (d.running().remove(token) && d.running().isEmpty()) {
                    it.remove();
                    drainedNow.add(d.future());
                }
            }
        }
        if (ready != null) {
            ready.complete(null);
        }
        drainedNow.forEach(f -> f.complete(null));
    }

    /**
     * Completes once every write running now in {@code [offset, offset+length)} has finished;
     * writes that enter later are not waited for. md-cluster's {@code quiesce} on a remote resync
     * window: the other node's window is suspended first (new writes wait for it), then the
     * writes already past that check drain before the message is acknowledged.
     */
    public synchronized CompletableFuture<Void> drained(long offset, long length) {
        List<long[]> running = new ArrayList<>();
        for (long[] r : inflight) {
            if (r[0] < offset + length && r[1] > offset) {
                running.add(r);
            }
        }
        if (running.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> f = new CompletableFuture<>();
        drains.add(new Drain(running, f));
        return f;
    }

    /** Raises the sync window; completes once no write overlaps it. One window at a time. */
    public synchronized CompletableFuture<Void> raise(long offset, long length) {
        if (windowStart >= 0) {
            throw new IllegalStateException("a sync window is already raised");
        }
        windowStart = offset;
        windowEnd = offset + length;
        if (!inflightOverlaps(windowStart, windowEnd)) {
            return CompletableFuture.completedFuture(null);
        }
        windowReady = new CompletableFuture<>();
        return windowReady;
    }

    /** Lowers the window and lets the writes that waited for it in. */
    public void lower() {
        List<Waiter> released = new ArrayList<>();
        List<long[]> tokens = new ArrayList<>();
        synchronized (this) {
            windowStart = -1;
            windowEnd = -1;
            windowReady = null;
            while (!waitingWrites.isEmpty()) {
                Waiter w = waitingWrites.poll();
                long[] token = {w.offset(), w.end()};
                inflight.add(token);
                released.add(w);
                tokens.add(token);
            }
        }
        for (int i = 0; i < released.size(); i++) {
            released.get(i).future().complete(tokens.get(i));
        }
    }

    /** Writes in flight that the raised window waits for (for status: what the sync waits for). */
    public synchronized int writesBlockingWindow() {
        int n = 0;
        for (long[] r : inflight) {
            if (windowStart >= 0 && r[0] < windowEnd && r[1] > windowStart) {
                n++;
            }
        }
        return n;
    }

    private boolean overlapsWindow(long offset, long end) {
        return windowStart >= 0 && offset < windowEnd && end > windowStart;
    }

    private boolean inflightOverlaps(long start, long end) {
        for (long[] r : inflight) {
            if (r[0] < end && r[1] > start) {
                return true;
            }
        }
        return false;
    }
}
