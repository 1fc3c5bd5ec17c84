package io.clustermd.md.array;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * {@link WriteOrdering} against a model: random ranges over a small space (so most overlap), submitted
 * one after another, completed (successfully, with a failure, or by a throwing start) in random order
 * interleaved with further submissions.
 */
class WriteOrderingPropertyTest {

    /** One submitted request as the model sees it. */
    private static final class Req {
        final int id;
        final long start;
        final long end;
        boolean started;
        boolean completed;
        CompletableFuture<Integer> io;      // what start returned, completed by the test
        CompletableFuture<Integer> result;  // what submit returned

        Req(int id, long start, long end) {
            this.id = id;
            this.start = start;
            this.end = end;
        }

        boolean overlaps(Req o) {
            return start < o.end && o.start < end;
        }
    }

    @Property(tries = 300)
    void randomOverlappingRequests_completedInRandomOrder_startInArrivalOrderAndNeverTogether(
            @ForAll long seed, @ForAll @IntRange(min = 4, max = 256) int space) {
        SplittableRandom rnd = new SplittableRandom(seed);
        WriteOrdering ordering = new WriteOrdering();
        List<Req> all = new ArrayList<>();
        List<Req> running = new ArrayList<>();
        List<String> violations = new ArrayList<>();
        int submissions = 150;
        while (all.size() < submissions || !running.isEmpty()) {
            boolean submit = all.size() < submissions && (running.isEmpty() || rnd.nextInt(3) != 0);
            if (submit) {
                long start = rnd.nextInt(space);
                long end = Math.min(space, start + 1 + rnd.nextInt(Math.max(1, space / 4)));
                Req r = new Req(all.size(), start, end);
                boolean throwing = rnd.nextInt(20) == 0;
                boolean mustWait = all.stream().anyMatch(o -> !o.completed && o.overlaps(r));
                all.add(r);
                r.result = ordering.submit(start, end - start, () -> {
                    // Arrival order, and never two overlapping requests started together: every request
                    // submitted before this one over an overlapping range, and every one started, has
                    // completed. (Recorded, not thrown: the ordering turns a throwing start into a failure.)
                    for (Req o : all) {
                        if (o != r && o.overlaps(r) && (o.id < r.id || o.started) && !o.completed) {
                            violations.add("request " + r.id + " starts while " + o.id + " (overlapping) has not completed");
                        }
                    }
                    if (r.started) {
                        violations.add("request " + r.id + " started twice");
                    }
                    r.started = true;
                    if (throwing) {
                        r.completed = true;
                        throw new IllegalStateException("start " + r.id + " threw");
                    }
                    r.io = new CompletableFuture<>();
                    running.add(r);
                    return r.io;
                });
                // A request that overlaps nothing in flight never waits.
                assertThat(r.started).as("request %d started at once", r.id).isEqualTo(!mustWait);
                if (throwing && r.started) {
                    assertThat(r.result).isCompletedExceptionally();
                }
            } else {
                Req r = running.remove(rnd.nextInt(running.size()));
                r.completed = true;
                if (rnd.nextInt(5) == 0) {
                    r.io.completeExceptionally(new ArrayIoException("member write " + r.id + " failed", null));
                    assertThat(r.result).isCompletedExceptionally();
                } else {
                    r.io.complete(r.id);
                    assertThat(r.result).isCompletedWithValue(r.id);
                }
            }
            // No request waits longer than needed: once every earlier overlapping one has completed, it has started.
            for (Req w : all) {
                boolean free = all.stream().noneMatch(o -> o.id < w.id && o.overlaps(w) && !o.completed);
                if (free) {
                    assertThat(w.started).as("request %d is free to start", w.id).isTrue();
                }
            }
            assertThat(violations).isEmpty();
            int present = (int) all.stream().filter(o -> !o.completed).count();
            assertThat(ordering.present()).isEqualTo(present);
            assertThat(ordering.segments()).isLessThanOrEqualTo(Math.max(0, 2 * present - 1));
        }
        assertThat(all).allMatch(r -> r.started && r.completed && r.result.isDone());
        assertThat(ordering.present()).isZero();
        assertThat(ordering.segments()).isZero();
    }

    /**
     * Many threads submit and complete at once (completions on other threads, as member I/O completes on
     * event loops): overlapping requests are never running together and every request runs.
     */
    @Property(tries = 10)
    void concurrentSubmitters_neverRunOverlappingRequestsTogether(@ForAll long seed) throws Exception {
        int threads = 4;
        int perThread = 2000;
        long space = 64;
        WriteOrdering ordering = new WriteOrdering();
        ExecutorService completer = Executors.newFixedThreadPool(2);
        ExecutorService submitters = Executors.newFixedThreadPool(threads);
        int[] owner = new int[(int) space];      // who runs over each unit, 0 = nobody; guarded by itself
        AtomicReference<String> violation = new AtomicReference<>();
        AtomicInteger ran = new AtomicInteger();
        ConcurrentHashMap<Integer, Boolean> results = new ConcurrentHashMap<>();
        CountDownLatch done = new CountDownLatch(threads * perThread);
        try {
            for (int t = 0; t < threads; t++) {
                SplittableRandom rnd = new SplittableRandom(seed + t);
                int base = (t + 1) * 1_000_000;
                submitters.execute(() -> {
                    for (int i = 0; i < perThread; i++) {
                        int id = base + i;
                        long start = rnd.nextLong(space);
                        long end = Math.min(space, start + 1 + rnd.nextLong(8));
                        ordering.submit(start, end - start, () -> {
                            synchronized (owner) {
                                for (long u = start; u < end; u++) {
                                    if (owner[(int) u] != 0) {
                                        violation.compareAndSet(null, id + " overlaps running " + owner[(int) u]);
                                    }
                                    owner[(int) u] = id;
                                }
                            }
                            ran.incrementAndGet();
                            return CompletableFuture.supplyAsync(() -> {
                                synchronized (owner) {
                                    for (long u = start; u < end; u++) {
                                        owner[(int) u] = 0;
                                    }
                                }
                                return id;
                            }, completer);
                        }).whenComplete((v, e) -> {
                            results.put(id, e == null);
                            done.countDown();
                        });
                    }
                });
            }
            assertThat(done.await(60, TimeUnit.SECONDS)).as("every request completed").isTrue();
        } finally {
            submitters.shutdown();
            completer.shutdown();
            assertThat(completer.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(violation.get()).isNull();
        assertThat(ran.get()).isEqualTo(threads * perThread);
        assertThat(results).hasSize(threads * perThread).doesNotContainValue(false);
        assertThat(ordering.present()).isZero();
        assertThat(ordering.segments()).isZero();
    }

    /**
     * A long queue over one range whose starts complete at once (as writes refused before reaching a
     * member do): every one starts, in arrival order, without one stack frame per request.
     */
    @Example
    void longQueueOfImmediatelyCompletingStarts_runsInOrderWithoutDeepRecursion() {
        WriteOrdering ordering = new WriteOrdering();
        CompletableFuture<Integer> firstIo = new CompletableFuture<>();
        ordering.submit(0, 4096, () -> firstIo);
        int queued = 200_000;
        List<Integer> started = new ArrayList<>();
        List<CompletableFuture<Integer>> results = new ArrayList<>();
        for (int i = 0; i < queued; i++) {
            int id = i;
            results.add(ordering.submit(0, 4096, () -> {
                started.add(id);
                return CompletableFuture.completedFuture(id);
            }));
        }
        assertThat(started).isEmpty();
        firstIo.complete(-1);
        assertThat(started).hasSize(queued).isSorted();
        assertThat(results).allMatch(f -> f.isDone() && !f.isCompletedExceptionally());
        assertThat(ordering.present()).isZero();
        assertThat(ordering.segments()).isZero();
    }
}
