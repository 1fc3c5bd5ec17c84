package io.clustermd.nbd;

import java.util.ArrayDeque;

/**
 * What all connections of one server together may have in flight: requests and buffer bytes
 * (nbdkit has no such limit; the kernel's block layer has its per-device request pool). A
 * connection that finds the budget spent queues here and is woken, first come first served, when
 * enough has been given back; until then nobody behind it takes from the budget, so a large request
 * is not starved by a stream of small ones.
 *
 * <p>Thread-safe. Callers on any event loop; the lock is held for a few field updates only, and a
 * waiter is woken outside it ({@link Waiter#wake()} must only post work to the waiter's loop).
 */
final class InFlightBudget {

    /** A connection waiting for the budget. */
    interface Waiter {
        /** The budget may have room now: try again (soon, on your own thread). */
        void wake();
    }

    private final int maxRequests;
    private final long maxBytes;
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private int requests;
    private long bytes;
    private int peakRequests;
    private long peakBytes;

    InFlightBudget(int maxRequests, long maxBytes) {
        this.maxRequests = maxRequests;
        this.maxBytes = maxBytes;
    }

    /**
     * Takes one request and {@code charge} bytes if they fit and nobody is queued ahead of
     * {@code w}; otherwise queues {@code w} (once) and returns false.
     */
    boolean tryAcquire(Waiter w, long charge) {
        Waiter next = null;
        synchronized (this) {
            Waiter head = waiters.peekFirst();
            if (head != null && head != w || requests >= maxRequests || bytes + charge > maxBytes) {
                if (head != w && !waiters.contains(w)) {
                    waiters.addLast(w);
                }
                return false;
            }
            if (head == w) {
                waiters.pollFirst();
                next = waiters.peekFirst();
            }
            requests++;
            bytes += charge;
            peakRequests = Math.max(peakRequests, requests);
            peakBytes = Math.max(peakBytes, bytes);
        }
        if (next != null) {
            next.wake(); // there may be room for the next one too
        }
        return true;
    }

    /** Gives back one request and its bytes; wakes the first waiter. */
    void release(long charge) {
        Waiter head;
        synchronized (this) {
            requests--;
            bytes -= charge;
            head = waiters.peekFirst();
        }
        if (head != null) {
            head.wake();
        }
    }

    /** {@code w} no longer waits (it closed, or it waits for something else first). */
    void forget(Waiter w) {
        Waiter next = null;
        synchronized (this) {
            boolean wasHead = waiters.peekFirst() == w;
            if (waiters.remove(w) && wasHead) {
                next = waiters.peekFirst();
            }
        }
        if (next != null) {
            next.wake();
        }
    }

    /** The figures now and at their highest, for status and tests. */
    synchronized Stats stats() {
        return new Stats(requests, bytes, peakRequests, peakBytes, waiters.size(), maxRequests, maxBytes);
    }

    /** Requests and bytes in flight, their peaks, connections queued, and the limits. */
    record Stats(int requests, long bytes, int peakRequests, long peakBytes, int waiting, int maxRequests,
                 long maxBytes) {}
}
