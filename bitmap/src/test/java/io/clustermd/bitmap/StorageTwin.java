package io.clustermd.bitmap;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.random.RandomGenerator;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A {@link BitmapStorage} whose page writes land on an in-memory "disk" only when the test says so
 * (or at once, in auto mode). On a simulated crash each write still in flight lands or is lost at random,
 * like a torn-write member. Thread-safe; futures are completed outside its monitor.
 */
final class StorageTwin implements BitmapStorage {

    /** One page write as issued: the bytes seen at issue time and the buffer that must not change. */
    record Write(int page, byte[] data, ByteBuffer buffer, CompletableFuture<Void> future) {
    }

    private final byte[] disk;
    private final Deque<Write> inFlight = new ArrayDeque<>();
    private final List<Write> issued = new ArrayList<>();
    private boolean autoComplete;
    private Consumer<Write> onIssue = w -> { };

    StorageTwin(byte[] initialDisk) {
        this.disk = initialDisk.clone();
    }

    @Override
    public CompletableFuture<Void> writePage(int pageIndex, ByteBuffer page) {
        assertThat(page.isReadOnly()).as("page buffer is read-only").isTrue();
        assertThat(page.isDirect()).as("page buffer is direct").isTrue();
        assertThat(page.position()).isZero();
        assertThat(page.remaining()).isEqualTo(WriteIntentBitmap.PAGE_BYTES);
        assertThat((long) (pageIndex + 1) * WriteIntentBitmap.PAGE_BYTES).isLessThanOrEqualTo(disk.length);
        byte[] data = new byte[WriteIntentBitmap.PAGE_BYTES];
        page.get(0, data);
        Write w = new Write(pageIndex, data, page, new CompletableFuture<>());
        boolean auto;
        Consumer<Write> hook;
        synchronized (this) {
            for (Write other : inFlight) {
                assertThat(other.page()).as("a second write of page %d while one is in flight", pageIndex)
                        .isNotEqualTo(pageIndex);
            }
            issued.add(w);
            inFlight.add(w);
            auto = autoComplete;
            hook = onIssue;
        }
        hook.accept(w);
        if (auto) {
            completeAll();
        }
        return w.future();
    }

    /** Lands the oldest write in flight on the disk and completes it; false when none is in flight. */
    boolean completeNext() {
        Write w;
        synchronized (this) {
            w = inFlight.poll();
            if (w == null) {
                return false;
            }
            land(w);
        }
        w.future().complete(null);
        return true;
    }

    /** Lands writes until none is in flight (completing one may issue the next). */
    void completeAll() {
        while (completeNext()) {
            // keep going
        }
    }

    /** Fails the oldest write in flight without touching the disk. */
    void failNext(RuntimeException cause) {
        Write w;
        synchronized (this) {
            w = inFlight.poll();
        }
        assertThat(w).as("a write in flight to fail").isNotNull();
        w.future().completeExceptionally(cause);
    }

    private void land(Write w) {
        byte[] now = new byte[WriteIntentBitmap.PAGE_BYTES];
        w.buffer().get(0, now);
        assertThat(now).as("page %d buffer changed while its write was in flight", w.page()).isEqualTo(w.data());
        System.arraycopy(w.data(), 0, disk, w.page() * WriteIntentBitmap.PAGE_BYTES, WriteIntentBitmap.PAGE_BYTES);
    }

    /** A crash: every write in flight lands or is lost at random; none of them completes. Returns the disk. */
    synchronized byte[] crash(RandomGenerator random) {
        for (Write w : inFlight) {
            if (random.nextBoolean()) {
                land(w);
            }
        }
        inFlight.clear();
        return disk.clone();
    }

    synchronized void autoComplete(boolean on) {
        autoComplete = on;
    }

    synchronized void onIssue(Consumer<Write> hook) {
        onIssue = hook;
    }

    synchronized int inFlightCount() {
        return inFlight.size();
    }

    synchronized int writes() {
        return issued.size();
    }

    synchronized List<Write> issued() {
        return List.copyOf(issued);
    }

    synchronized byte[] disk() {
        return disk.clone();
    }

    synchronized boolean diskBit(long chunk) {
        return bit(disk, chunk);
    }

    synchronized long diskEventsCleared() {
        return ByteBuffer.wrap(disk).order(ByteOrder.LITTLE_ENDIAN).getLong(32);
    }

    synchronized long diskEvents() {
        return ByteBuffer.wrap(disk).order(ByteOrder.LITTLE_ENDIAN).getLong(24);
    }

    synchronized int diskState() {
        return ByteBuffer.wrap(disk).order(ByteOrder.LITTLE_ENDIAN).getInt(48);
    }

    static boolean bit(byte[] slot, long chunk) {
        return (slot[BitmapGeometry.SUPERBLOCK_BYTES + (int) (chunk >>> 3)] & (1 << (chunk & 7))) != 0;
    }

    @Override
    public synchronized String toString() {
        return "StorageTwin[writes=" + issued.size() + ", inFlight=" + inFlight.size() + ", disk="
                + Arrays.hashCode(disk) + "]";
    }
}
