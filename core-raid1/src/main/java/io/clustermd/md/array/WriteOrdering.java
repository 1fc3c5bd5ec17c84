package io.clustermd.md.array;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Orders writes whose array ranges overlap: md raid1's {@code serialize_policy}
 * ({@code raid1_add_info}/{@code check_and_add_serial} on submission, {@code wait_for_serialization}
 * before the member bios go out, {@code remove_serial} on completion), always on here. Without it two
 * overlapping writes in flight at once reach the legs in whatever order each member queue completes
 * them, and the legs can end up holding different writes.
 *
 * <p>The order is fixed when a request is {@linkplain #submit submitted}: it waits for every request
 * submitted earlier whose range overlaps its own and that has not completed yet, and starts (its
 * {@code start} runs) from the completion of the last of those, on whatever thread completed it. A
 * request that overlaps nothing in flight starts at once. Nothing blocks a thread.
 *
 * <p>Structure: the ranges in flight or waiting, cut into disjoint segments, each naming the latest
 * request submitted over it (a {@link TreeMap} keyed by segment start). A new request waits for the
 * distinct owners of the segments it covers, then owns those ranges itself: a request submitted
 * earlier over the same bytes is then reached through the owner, which itself waited for it, so
 * arrival order holds through chains. Submission and completion are O(log n + k) for n segments and
 * k segments covered; n stays below twice the number of requests present (see {@link #segments()}),
 * which the NBD admission limit bounds.
 */
final class WriteOrdering {

    /** One submitted request: what it waits for and who waits for it. Guarded by the ordering's lock. */
    private static final class Request {
        final long start;
        final long end;
        Runnable run;                              // set while it waits
        int waitingFor;
        List<Request> successors;                  // made when the first one comes

        Request(long start, long end) {
            this.start = start;
            this.end = end;
        }
    }

    /** A disjoint piece of the ranges present: {@code [key, end)} owned by the latest request over it. */
    private record Segment(long end, Request owner) {
    }

    /**
     * Successors made ready on this thread while it is already starting successors: started by that
     * outer loop, not by recursion. A start can complete at once (a write refused before it reaches
     * a member), which lets the next one go from inside it; a long queue over one range would
     * otherwise recurse once per request.
     */
    private static final ThreadLocal<ArrayDeque<Runnable>> STARTING = new ThreadLocal<>();

    private final TreeMap<Long, Segment> segments = new TreeMap<>(); // guarded by this
    private int present;                                              // guarded by this

    /**
     * Runs {@code start} once every request submitted earlier over an overlapping range has
     * completed; the returned future completes with the one {@code start} returns, after the
     * requests waiting for this one have been let go. A failure (a failed future or an exception
     * from {@code start}) lets them go as well. {@code length} 0 overlaps nothing.
     */
    <T> CompletableFuture<T> submit(long offset, long length, Supplier<CompletableFuture<T>> start) {
        if (length <= 0) {
            return start.get();
        }
        Request r = new Request(offset, offset + length);
        CompletableFuture<T> waiting = null;
        synchronized (this) {
            if (!admit(r)) {
                // Made only for a request that waits: the common one, overlapping nothing, costs no more
                // than a map lookup and insert here and a removal on completion.
                CompletableFuture<T> result = new CompletableFuture<>();
                r.run = () -> started(r, start).whenComplete((v, e) -> {
                    if (e != null) {
                        result.completeExceptionally(e);
                    } else {
                        result.complete(v);
                    }
                });
                waiting = result;
            }
        }
        return waiting != null ? waiting : started(r, start);
    }

    /** Runs {@code start} for {@code r}; whatever it gives, {@code r} completes after it. */
    private <T> CompletableFuture<T> started(Request r, Supplier<CompletableFuture<T>> start) {
        CompletableFuture<T> f;
        try {
            f = start.get();
        } catch (RuntimeException | Error e) {
            complete(r);
            return CompletableFuture.failedFuture(e);
        }
        return f.whenComplete((v, e) -> complete(r));
    }

    /** Requests submitted and not yet completed (waiting or started). */
    synchronized int present() {
        return present;
    }

    /**
     * Segments held. Every segment boundary is an end of a request still present (a boundary inside a
     * request's range can only come from a later, overlapping request, which waits for it), so there
     * are fewer than {@code 2 * present()}.
     */
    synchronized int segments() {
        return segments.size();
    }

    /** Records {@code r} over its range; true when it waits for nothing. */
    private boolean admit(Request r) {
        present++;
        // The common case, nothing present over the range: one segment in, no cutting.
        Map.Entry<Long, Segment> below = segments.lowerEntry(r.start);
        Long above = segments.ceilingKey(r.start);
        if ((below == null || below.getValue().end() <= r.start) && (above == null || above >= r.end)) {
            segments.put(r.start, new Segment(r.end, r));
            return true;
        }
        cut(r.start);
        cut(r.end);
        // Every segment inside [start, end) now lies wholly within it; gaps between them are free.
        for (Map.Entry<Long, Segment> e : segments.subMap(r.start, r.end).entrySet()) {
            Request owner = e.getValue().owner();
            if (owner.successors == null) {
                owner.successors = new ArrayList<>(2);
            }
            List<Request> s = owner.successors;
            // Only r is added to successor lists here, so r is already an owner's successor exactly
            // when it is that list's last entry (an owner can hold several segments of r's range).
            if (s.isEmpty() || s.get(s.size() - 1) != r) {
                s.add(r);
                r.waitingFor++;
            }
        }
        segments.subMap(r.start, r.end).clear();
        segments.put(r.start, new Segment(r.end, r));
        return r.waitingFor == 0;
    }

    /** Splits the segment that contains {@code at} (if any) so that a segment boundary falls on it. */
    private void cut(long at) {
        Map.Entry<Long, Segment> e = segments.lowerEntry(at);
        if (e != null && e.getValue().end() > at) {
            Segment s = e.getValue();
            segments.put(e.getKey(), new Segment(at, s.owner()));
            segments.put(at, new Segment(s.end(), s.owner()));
        }
    }

    /** {@code r} completed: drops the segments it still owns and starts the successors left with nothing to wait for. */
    private void complete(Request r) {
        List<Runnable> ready;
        synchronized (this) {
            present--;
            if (r.successors == null) {
                // Nothing came over r's range after it (that would have made it a successor), so r's
                // one segment is still whole.
                segments.remove(r.start);
                return;
            }
            var covered = segments.subMap(r.start, r.end).entrySet().iterator();
            while (covered.hasNext()) {
                if (covered.next().getValue().owner() == r) {
                    covered.remove();
                }
            }
            ready = new ArrayList<>(r.successors.size());
            for (Request s : r.successors) {
                if (--s.waitingFor == 0) {
                    ready.add(s.run);
                    s.run = null;
                }
            }
        }
        if (ready.isEmpty()) {
            return;
        }
        ArrayDeque<Runnable> pending = STARTING.get();
        if (pending != null) {
            pending.addAll(ready);
            return;
        }
        pending = new ArrayDeque<>(ready);
        STARTING.set(pending);
        try {
            for (Runnable run = pending.poll(); run != null; run = pending.poll()) {
                run.run();
            }
        } finally {
            STARTING.remove();
        }
    }
}
