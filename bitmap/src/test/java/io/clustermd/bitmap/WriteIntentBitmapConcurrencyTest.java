package io.clustermd.bitmap;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real threads on the lock-free paths: writers, a daemon running passes back to back, and a storage that
 * completes page writes on its own threads. Set-before-write must hold for every single write.
 */
class WriteIntentBitmapConcurrencyTest {

    static final int CHUNK = 4096;
    static final long PAGE0_CHUNKS = (WriteIntentBitmap.PAGE_BYTES - 256) * 8L;
    static final long CHUNKS = PAGE0_CHUNKS + 3000;

    /** Page writes land on a disk image on the storage's own threads, one write per page at a time. */
    static final class ThreadedStorage implements BitmapStorage {
        final byte[] disk;
        final ExecutorService io = Executors.newFixedThreadPool(2);
        final AtomicIntegerArray inFlight;

        ThreadedStorage(byte[] disk) {
            this.disk = disk.clone();
            this.inFlight = new AtomicIntegerArray(disk.length / WriteIntentBitmap.PAGE_BYTES);
        }

        @Override
        public CompletableFuture<Void> writePage(int pageIndex, ByteBuffer page) {
            assertThat(inFlight.incrementAndGet(pageIndex)).as("writes of page %d in flight", pageIndex).isEqualTo(1);
            return CompletableFuture.runAsync(() -> {
                synchronized (disk) {
                    page.get(0, disk, pageIndex * WriteIntentBitmap.PAGE_BYTES, WriteIntentBitmap.PAGE_BYTES);
                }
                inFlight.decrementAndGet(pageIndex);
            }, io);
        }

        boolean bit(long chunk) {
            synchronized (disk) {
                return StorageTwin.bit(disk, chunk);
            }
        }
    }

    @Test
    @Timeout(60)
    void writersDaemonAndStorageThreads_everyIssuedWriteHasItsBitOnDisk() throws Exception {
        byte[] slot = Slots.image(CHUNKS, CHUNK, 10, 10, 0);
        ThreadedStorage storage = new ThreadedStorage(slot);
        WriteIntentBitmap bitmap = Slots.load(slot, WriteIntentBitmap.MAX_SECTOR, storage);
        int writers = 8;
        int writesEach = 20_000;
        ExecutorService threads = Executors.newFixedThreadPool(writers + 1);
        AtomicBoolean writing = new AtomicBoolean(true);
        try {
            Future<Integer> daemon = threads.submit(() -> {
                int passes = 0;
                while (writing.get()) {
                    bitmap.daemonPass(false).join();
                    passes++;
                }
                return passes;
            });
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < writers; t++) {
                long seed = t;
                workers.add(threads.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    for (int i = 0; i < writesEach; i++) {
                        // Mostly a small hot set (the fast path), sometimes anywhere (clean chunks, both pages).
                        long first = random.nextInt(4) == 0 ? random.nextLong(CHUNKS - 1)
                                : PAGE0_CHUNKS - 8 + random.nextInt(16);
                        int n = random.nextInt(3) == 0 ? 2 : 1;
                        bitmap.startWrite(first * CHUNK, (long) n * CHUNK).join();
                        for (int k = 0; k < n; k++) {
                            assertThat(storage.bit(first + k)).as("bit of chunk %d on disk before the data write",
                                    first + k).isTrue();
                        }
                        bitmap.endWrite(first * CHUNK, (long) n * CHUNK, true, false);
                    }
                    return null;
                }));
            }
            for (Future<?> w : workers) {
                w.get();
            }
            writing.set(false);
            assertThat(daemon.get()).isPositive();

            for (int i = 0; i < 2; i++) {
                bitmap.daemonPass(false).join();
            }
            assertThat(bitmap.dirtyChunks()).isZero();
            assertThat(bitmap.unplug()).succeedsWithin(10, TimeUnit.SECONDS);
            assertThat(BitmapBits.countDirty(ByteBuffer.wrap(storage.disk).position(256), CHUNKS)).isZero();
            assertThat(bitmap.status().pageWrites()).isLessThan((long) writers * writesEach);
        } finally {
            threads.shutdownNow();
            storage.io.shutdownNow();
        }
    }
}
