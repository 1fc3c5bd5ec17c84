package io.clustermd.bitmap;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random sequences of startWrite / page-write completions and failures / endWrite / daemon passes /
 * events changes / degraded toggles / resync / crash-and-reload, checked against a simple model after every
 * step. The invariant that makes crash recovery correct: every chunk with a data write in flight, written
 * since fewer than two daemon passes, or needing resync has its bit set in the storage twin's disk image;
 * after a crash, every such chunk is NEEDED in the reloaded bitmap. Deterministic given the seed.
 */
class WriteIntentBitmapModelTest {

    static final int CHUNK = 4096;
    static final long PAGE0_CHUNKS = (WriteIntentBitmap.PAGE_BYTES - 256) * 8L;
    static final long CHUNKS = PAGE0_CHUNKS + 100;
    /** Chunks the writes touch: the first ones, both sides of the page boundary, the last ones. */
    static final long[] HOT = {0, 1, 2, 3, 4, 5, PAGE0_CHUNKS - 2, PAGE0_CHUNKS - 1, PAGE0_CHUNKS, PAGE0_CHUNKS + 1,
        CHUNKS - 2, CHUNKS - 1};
    static final int STEPS = 300;

    @Property(tries = 200)
    void bitsOfInFlightRecentAndNeededChunksAreAlwaysOnDisk(@ForAll long seed) {
        Simulation sim = new Simulation(seed);
        for (int step = 0; step < STEPS; step++) {
            sim.step(step);
            sim.checkInvariants(step);
        }
    }

    /** One data write as the array would do it. */
    private static final class Write {
        final long first;
        final int chunks;
        final CompletableFuture<Void> started;

        Write(long first, int chunks, CompletableFuture<Void> started) {
            this.first = first;
            this.chunks = chunks;
            this.started = started;
        }
    }

    /** What the model knows about one hot chunk. */
    private static final class ChunkModel {
        /** Passes since the last endWrite of an issued data write; large when there was none. */
        int passesSinceEnd = Integer.MAX_VALUE / 2;
        /** The mirrors may differ until a resync of the chunk succeeds. */
        boolean needed;
        int neededAt = -1;
        int syncStartedAt = -1;
    }

    private static final class Simulation {
        final SplittableRandom random;
        StorageTwin twin;
        WriteIntentBitmap bitmap;
        final List<Write> writes = new ArrayList<>();
        final List<Long> syncing = new ArrayList<>();
        final Map<Long, ChunkModel> model = new HashMap<>();
        final StringBuilder trace = new StringBuilder();
        boolean degraded;
        long events = 10;

        Simulation(long seed) {
            random = new SplittableRandom(seed);
            byte[] slot = Slots.image(CHUNKS, CHUNK, events, events, 0);
            twin = new StorageTwin(slot);
            bitmap = Slots.load(slot, WriteIntentBitmap.MAX_SECTOR, twin);
            for (long c : HOT) {
                model.put(c, new ChunkModel());
            }
        }

        void step(int step) {
            int roll = random.nextInt(100);
            if (roll < 25) {
                startWrite();
            } else if (roll < 43) {
                note("completeNext");
                twin.completeNext();
            } else if (roll < 47) {
                note("completeAll");
                twin.completeAll();
            } else if (roll < 49) {
                if (twin.inFlightCount() > 0) {
                    note("failNext");
                    twin.failNext(new IllegalStateException("injected"));
                }
            } else if (roll < 68) {
                endWrite(step);
            } else if (roll < 82) {
                note("daemonPass degraded=" + degraded);
                long dirtyBefore = bitmap.dirtyChunks();
                bitmap.daemonPass(degraded);
                model.values().forEach(m -> m.passesSinceEnd++);
                if (degraded) {
                    assertThat(bitmap.dirtyChunks()).as("a degraded pass cleared a bit%n%s", trace)
                            .isEqualTo(dirtyBefore);
                }
            } else if (roll < 85) {
                events += random.nextInt(4) == 0 ? -1 : 1;
                note("setEvents " + events);
                bitmap.setEvents(events);
            } else if (roll < 87) {
                degraded = !degraded;
                note("degraded=" + degraded);
            } else if (roll < 92) {
                startSync(step);
            } else if (roll < 97) {
                endSync(step);
            } else {
                crash();
            }
        }

        void startWrite() {
            int i = random.nextInt(HOT.length);
            long first = HOT[i];
            int n = i + 1 < HOT.length && HOT[i + 1] == first + 1 && random.nextBoolean() ? 2 : 1;
            note("startWrite " + first + "+" + n);
            writes.add(new Write(first, n, bitmap.startWrite(first * CHUNK, (long) n * CHUNK)));
        }

        void endWrite(int step) {
            List<Write> ready = writes.stream().filter(w -> w.started.isDone()).toList();
            if (ready.isEmpty()) {
                return;
            }
            Write w = ready.get(random.nextInt(ready.size()));
            writes.remove(w);
            boolean issued = !w.started.isCompletedExceptionally();
            boolean succeeded = issued && random.nextInt(10) != 0;
            note("endWrite " + w.first + "+" + w.chunks + " issued=" + issued + " ok=" + succeeded
                    + " degraded=" + degraded);
            bitmap.endWrite(w.first * CHUNK, (long) w.chunks * CHUNK, succeeded, degraded);
            if (!issued) {
                return; // the data was never written: the mirrors did not diverge
            }
            for (int k = 0; k < w.chunks; k++) {
                ChunkModel m = model.get(w.first + k);
                m.passesSinceEnd = 0;
                if (!succeeded || degraded) {
                    m.needed = true;
                    m.neededAt = step;
                }
            }
        }

        void startSync(int step) {
            long c = bitmap.nextChunkNeedingSync(random.nextInt(4) == 0 ? 0 : HOT[random.nextInt(HOT.length)]);
            if (c < 0) {
                return;
            }
            int before = bitmap.counter(c);
            boolean needs = bitmap.startSync(c, degraded);
            note("startSync " + c + " degraded=" + degraded + " -> " + needs);
            assertThat(needs).as("nextChunkNeedingSync returned %d (counter 0x%x)", c, before).isTrue();
            if (!degraded && (before & WriteIntentBitmap.RESYNC_MASK) == 0) {
                syncing.add(c);
                ChunkModel m = model.get(c);
                if (m != null) {
                    m.syncStartedAt = step;
                }
            }
        }

        void endSync(int step) {
            if (syncing.isEmpty()) {
                return;
            }
            long c = syncing.remove(random.nextInt(syncing.size()));
            boolean ok = random.nextInt(5) != 0;
            note("endSync " + c + " ok=" + ok);
            bitmap.endSync(c, ok);
            ChunkModel m = model.get(c);
            if (ok && m != null && m.neededAt < m.syncStartedAt) {
                // The mirrors were copied after the last divergence: the chunk is consistent again.
                m.needed = false;
            }
        }

        void crash() {
            note("crash");
            byte[] disk = twin.crash(random);
            twin = new StorageTwin(disk);
            bitmap = Slots.load(disk, 0, twin);
            for (Map.Entry<Long, ChunkModel> e : model.entrySet()) {
                ChunkModel m = e.getValue();
                boolean required = m.needed || m.passesSinceEnd < 2 || inFlight(e.getKey());
                if (required) {
                    assertThat(bitmap.needsSync(e.getKey()))
                            .as("chunk %d needs resync after the crash%n%s", e.getKey(), trace).isTrue();
                    m.needed = true;
                }
                // Any sync started after the reload copies the chunk after its last divergence.
                m.neededAt = -1;
                m.syncStartedAt = -1;
                m.passesSinceEnd = Integer.MAX_VALUE / 2;
            }
            writes.clear();
            syncing.clear();
            events = bitmap.events();
        }

        /** A data write on this chunk was issued (its bits were durable) and has not ended. */
        boolean inFlight(long chunk) {
            for (Write w : writes) {
                if (chunk >= w.first && chunk < w.first + w.chunks && w.started.isDone()
                        && !w.started.isCompletedExceptionally()) {
                    return true;
                }
            }
            return false;
        }

        void checkInvariants(int step) {
            byte[] memory = bitmap.slotImage().array();
            for (Map.Entry<Long, ChunkModel> e : model.entrySet()) {
                long c = e.getKey();
                ChunkModel m = e.getValue();
                int counter = bitmap.counter(c);
                int count = counter & WriteIntentBitmap.COUNTER_MAX;
                if (m.needed || m.passesSinceEnd < 2 || inFlight(c)) {
                    assertThat(twin.diskBit(c))
                            .as("step %d: chunk %d (counter 0x%x, needed=%s, passes=%d) bit on disk%n%s", step, c,
                                    counter, m.needed, m.passesSinceEnd, trace)
                            .isTrue();
                }
                if (m.needed) {
                    assertThat(bitmap.needsSync(c)).as("step %d: chunk %d needs sync%n%s", step, c, trace).isTrue();
                }
                assertThat(StorageTwin.bit(memory, c)).as("step %d: chunk %d memory bit vs counter 0x%x", step, c,
                        counter).isEqualTo(count != 0);
                long outstanding = writes.stream().filter(w -> c >= w.first && c < w.first + w.chunks).count();
                if (outstanding > 0) {
                    assertThat(count).as("step %d: chunk %d count with %d writes started", step, c, outstanding)
                            .isEqualTo(2 + outstanding);
                } else {
                    assertThat(count).as("step %d: chunk %d idle count", step, c).isLessThanOrEqualTo(2);
                }
            }
        }

        void note(String s) {
            trace.append(s).append('\n');
        }
    }
}
