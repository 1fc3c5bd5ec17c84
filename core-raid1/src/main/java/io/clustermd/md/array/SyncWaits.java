package io.clustermd.md.array;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Every wait of the sync thread (member I/O, writes draining out of a sync window, superblock
 * updates, the cluster's resync lock) goes through here, so none is silent and none outlives a
 * stop: the wait is sliced, a stop request abandons it ({@link Abandoned}), and a wait longer than
 * {@link #VISIBLE_AFTER_NANOS} is named in {@code status} ("waiting for …") and logged once when
 * it starts and once when it ends. md's sync thread sleeps in {@code wait_event} with nothing to
 * show for it; its only trace is a hung-task warning after 120 s.
 */
final class SyncWaits {

    static final long VISIBLE_AFTER_NANOS = 1_000_000_000L;
    static final long SLICE_MILLIS = 50;

    private static final System.Logger LOG = System.getLogger(SyncEngine.class.getName());

    /** A stop was requested while waiting: the sync action ends where it is. */
    static final class Abandoned extends RuntimeException {
        Abandoned() {
            super("stop requested", null, false, false);
        }
    }

    private final String arrayName;
    private final BooleanSupplier stopping;
    private final LongSupplier nanoTime;
    private volatile String waitingFor;

    SyncWaits(String arrayName, BooleanSupplier stopping, LongSupplier nanoTime) {
        this.arrayName = arrayName;
        this.stopping = stopping;
        this.nanoTime = nanoTime;
    }

    /** What the sync thread has been waiting for longer than a second, or null. */
    String waitingFor() {
        return waitingFor;
    }

    /**
     * Waits for {@code f}; {@code what} names it ("2 write(s) in flight …") if it takes long.
     *
     * @throws Abandoned          when a stop is requested first
     * @throws CompletionException when {@code f} fails
     */
    <T> T await(CompletableFuture<T> f, Supplier<String> what) {
        long start = nanoTime.getAsLong();
        String shown = null;
        try {
            for (;;) {
                try {
                    return f.get(SLICE_MILLIS, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (stopping.getAsBoolean()) {
                        throw new Abandoned();
                    }
                    if (shown == null && nanoTime.getAsLong() - start >= VISIBLE_AFTER_NANOS) {
                        shown = what.get();
                        waitingFor = shown;
                        LOG.log(System.Logger.Level.WARNING, "{0}: sync is waiting for {1}", arrayName, shown);
                    }
                } catch (ExecutionException e) {
                    throw new CompletionException(e.getCause());
                } catch (CancellationException e) {
                    throw new CompletionException(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new Abandoned();
                }
            }
        } finally {
            if (shown != null) {
                waitingFor = null;
                LOG.log(System.Logger.Level.INFO, "{0}: sync no longer waiting for {1} (waited {2} ms)", arrayName,
                        shown, (nanoTime.getAsLong() - start) / 1_000_000);
            }
        }
    }

    /** A blocking call that cannot be sliced (the cluster's resync lock): shown while it runs. */
    void during(String what, InterruptibleAction action) throws InterruptedException {
        waitingFor = what;
        try {
            action.run();
        } finally {
            waitingFor = null;
        }
    }

    interface InterruptibleAction {
        void run() throws InterruptedException;
    }
}
