package io.clustermd.bitmap;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static io.clustermd.bitmap.WriteIntentBitmap.COUNTER_MAX;
import static io.clustermd.bitmap.WriteIntentBitmap.NEEDED_MASK;
import static io.clustermd.bitmap.WriteIntentBitmap.RESYNC_MASK;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The rules of md-bitmap.c, one at a time, against a storage twin the test drives. */
class WriteIntentBitmapTest {

    static final int CHUNK = 4096;
    /** Chunks whose bits fit page 0 after the 256-byte superblock. */
    static final long PAGE0_CHUNKS = (WriteIntentBitmap.PAGE_BYTES - 256) * 8L;

    private static long off(long chunk) {
        return chunk * CHUNK;
    }

    private static Fixture fixture(long chunks, long events, long eventsCleared, long resyncStart, long... set) {
        byte[] slot = Slots.image(chunks, CHUNK, events, eventsCleared, 0, set);
        StorageTwin twin = new StorageTwin(slot);
        return new Fixture(Slots.load(slot, resyncStart, twin), twin);
    }

    private static Fixture fixture(long chunks) {
        return fixture(chunks, 10, 10, WriteIntentBitmap.MAX_SECTOR);
    }

    private record Fixture(WriteIntentBitmap bitmap, StorageTwin twin) {
        /** A write that reached the members: startWrite, page durable, data written, endWrite. */
        void write(long chunk, boolean succeeded, boolean degraded) {
            CompletableFuture<Void> f = bitmap.startWrite(off(chunk), CHUNK);
            twin.completeAll();
            assertThat(f).isCompleted();
            bitmap.endWrite(off(chunk), CHUNK, succeeded, degraded);
        }

        void pass(boolean degraded) {
            CompletableFuture<Void> f = bitmap.daemonPass(degraded);
            twin.completeAll();
            assertThat(f).isCompleted();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Loading (md_bitmap_init_from_disk)

    @Test
    void load_setBits_becomeCountTwo_neededFromResyncStart() {
        // chunk c is NEEDED when (c + 1) * chunkSectors >= start; 8 sectors per chunk, start inside chunk 5.
        Fixture f = fixture(100, 10, 10, 5 * 8 + 1, 0, 5, 9);

        assertThat(f.bitmap().counter(0)).isEqualTo(2);
        assertThat(f.bitmap().counter(5)).isEqualTo(NEEDED_MASK | 2);
        assertThat(f.bitmap().counter(9)).isEqualTo(NEEDED_MASK | 2);
        assertThat(f.bitmap().counter(1)).isZero();
        assertThat(f.bitmap().dirtyChunks()).isEqualTo(3);
        assertThat(f.bitmap().needsSync(0)).isFalse();
        assertThat(f.bitmap().needsSync(5)).isTrue();
        assertThat(f.bitmap().anyNeedsSync(off(1), 4L * CHUNK)).isFalse();
        assertThat(f.bitmap().anyNeedsSync(off(1), 4L * CHUNK + 1)).isTrue();
        assertThat(f.bitmap().anyNeedsSync(off(5), 0)).isFalse();
        assertThat(f.twin().writes()).as("loading writes nothing").isZero();
    }

    @Test
    void load_resyncStartZero_everySetBitNeeded() {
        Fixture f = fixture(100, 10, 10, 0, 0, 99);

        assertThat(f.bitmap().counter(0)).isEqualTo(NEEDED_MASK | 2);
        assertThat(f.bitmap().counter(99)).isEqualTo(NEEDED_MASK | 2);
    }

    @Test
    void load_cleanArray_bitsClearedByTwoPasses() {
        // mdadm --create --assume-clean: slot 0 all ones, resync_offset MaxSector.
        Fixture f = fixture(16, 10, 10, WriteIntentBitmap.MAX_SECTOR, 0, 1, 2, 15);

        f.pass(false);
        assertThat(f.twin().diskBit(15)).isTrue();
        assertThat(f.bitmap().counter(15)).isEqualTo(1);
        f.pass(false);
        assertThat(f.twin().diskBit(15)).isFalse();
        assertThat(f.twin().diskBit(0)).isFalse();
        assertThat(f.bitmap().dirtyChunks()).isZero();
    }

    @Test
    void load_bitsPastTheChunkCount_areIgnoredAndKept() {
        byte[] slot = Slots.image(10, CHUNK, 10, 10, 0);
        slot[256 + 1] = (byte) 0xff; // chunks 8..15; only 8 and 9 exist
        StorageTwin twin = new StorageTwin(slot);
        WriteIntentBitmap bitmap = Slots.load(slot, WriteIntentBitmap.MAX_SECTOR, twin);
        assertThat(bitmap.dirtyChunks()).isEqualTo(2);

        Fixture f = new Fixture(bitmap, twin);
        f.pass(false);
        f.pass(false);

        assertThat(twin.disk()[256 + 1]).isEqualTo((byte) 0xfc);
    }

    @Test
    void load_staleSlot_everythingNeeded_staleClearedOnlyAfterTheBitsAreDurable() {
        long chunks = PAGE0_CHUNKS + 5000; // two pages
        byte[] slot = Slots.image(chunks, CHUNK, 10, 10, BitmapSuperblock.STATE_STALE);
        StorageTwin twin = new StorageTwin(slot);
        WriteIntentBitmap bitmap = Slots.load(slot, WriteIntentBitmap.MAX_SECTOR, twin);
        assertThat(bitmap.dirtyChunks()).isEqualTo(chunks);
        assertThat(bitmap.needsSync(0)).isTrue();
        assertThat(bitmap.needsSync(chunks - 1)).isTrue();
        List<Boolean> staleClearedWithAllBitsOnDisk = new ArrayList<>();
        twin.onIssue(w -> {
            if (w.page() == 0 && (w.data()[48] & BitmapSuperblock.STATE_STALE) == 0) {
                staleClearedWithAllBitsOnDisk.add(twin.diskBit(0) && twin.diskBit(chunks - 1));
            }
        });

        CompletableFuture<Void> pass = bitmap.daemonPass(false);
        assertThat(twin.inFlightCount()).as("both pages, STALE still set").isEqualTo(2);
        twin.completeAll();
        assertThat(pass).isCompleted();
        assertThat(staleClearedWithAllBitsOnDisk).isEmpty();
        assertThat(twin.diskState() & BitmapSuperblock.STATE_STALE).isNotZero();

        pass = bitmap.daemonPass(false);
        twin.completeAll();
        assertThat(pass).isCompleted();
        assertThat(staleClearedWithAllBitsOnDisk).containsExactly(true);
        assertThat(twin.diskState() & BitmapSuperblock.STATE_STALE).isZero();
        assertThat(twin.diskBit(PAGE0_CHUNKS + 17)).isTrue();
        assertThat(bitmap.status().stale()).isFalse();
    }

    @Test
    void load_badImages_areRefused() {
        assertThatThrownBy(() -> WriteIntentBitmap.load(ByteBuffer.allocate(100), 0, (p, b) -> null))
                .isInstanceOf(BitmapFormatException.class).hasMessageContaining("100 bytes");
        byte[] slot = Slots.image(100_000, CHUNK, 1, 1, 0);
        assertThatThrownBy(() -> WriteIntentBitmap.load(ByteBuffer.wrap(slot, 0, 4096), 0, (p, b) -> null))
                .isInstanceOf(BitmapFormatException.class).hasMessageContaining("expected 16384");
        slot[0] = 0;
        assertThatThrownBy(() -> WriteIntentBitmap.load(ByteBuffer.wrap(slot), 0, (p, b) -> null))
                .isInstanceOf(BitmapFormatException.class).hasMessageContaining("magic");
    }

    // ---------------------------------------------------------------------------------------------------
    // startWrite: set before write, coalescing, COUNTER_MAX

    @Test
    void startWrite_cleanChunk_completesOnlyWhenThePageIsDurable() {
        Fixture f = fixture(100);

        CompletableFuture<Void> started = f.bitmap().startWrite(off(7), CHUNK);

        assertThat(f.bitmap().counter(7)).isEqualTo(3);
        assertThat(f.twin().inFlightCount()).isEqualTo(1);
        assertThat(started).isNotDone();
        assertThat(f.twin().diskBit(7)).isFalse();
        f.twin().completeNext();
        assertThat(started).isCompleted();
        assertThat(f.twin().diskBit(7)).isTrue();
    }

    @Test
    void startWrite_chunkAlreadyDurable_completesAtOnceWithoutAWrite() {
        Fixture f = fixture(100);
        f.write(7, true, false);
        int writes = f.twin().writes();

        CompletableFuture<Void> again = f.bitmap().startWrite(off(7), CHUNK);

        assertThat(again).isCompleted();
        assertThat(f.twin().writes()).isEqualTo(writes);
        assertThat(f.bitmap().counter(7)).isEqualTo(3);
        // The fast path's future is shared: callers cannot change it.
        assertThat(again.complete(null)).isFalse();
        assertThat(again.cancel(true)).isFalse();
        assertThatThrownBy(() -> again.obtrudeException(new RuntimeException()))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThat(f.bitmap().startWrite(off(7), CHUNK)).isCompletedWithValue(null);
    }

    @Test
    void startWrite_bitSetByAWriterWhosePageWriteIsInFlight_waitsForThatWrite() {
        Fixture f = fixture(100);
        CompletableFuture<Void> first = f.bitmap().startWrite(off(7), CHUNK);

        CompletableFuture<Void> second = f.bitmap().startWrite(off(7), CHUNK);

        assertThat(second).as("the bit is set in memory but not on disk yet").isNotDone();
        f.twin().completeNext();
        assertThat(first).isCompleted();
        assertThat(second).isCompleted();
        assertThat(f.twin().writes()).isEqualTo(1);
    }

    @Test
    void startWrite_manyWritersOnOnePage_shareAtMostTwoWrites() {
        Fixture f = fixture(PAGE0_CHUNKS);
        List<CompletableFuture<Void>> started = new ArrayList<>();

        for (int i = 0; i < 200; i++) {
            started.add(f.bitmap().startWrite(off(i * 97L), CHUNK));
        }

        assertThat(f.twin().writes()).isEqualTo(1);
        assertThat(started).allMatch(s -> !s.isDone());
        f.twin().completeNext();
        assertThat(started.get(0)).isCompleted();
        assertThat(started.get(199)).as("its bit came after the write in flight").isNotDone();
        assertThat(f.twin().writes()).as("one more write for all later bits").isEqualTo(2);
        f.twin().completeAll();
        assertThat(f.twin().writes()).isEqualTo(2);
        assertThat(started).allMatch(CompletableFuture::isDone);
        for (int i = 0; i < 200; i++) {
            assertThat(f.twin().diskBit(i * 97L)).isTrue();
        }
    }

    @Test
    void startWrite_rangeAcrossTwoPages_waitsForBoth() {
        Fixture f = fixture(PAGE0_CHUNKS + 100);

        CompletableFuture<Void> started = f.bitmap().startWrite(off(PAGE0_CHUNKS - 1), 2L * CHUNK);

        assertThat(f.twin().writes()).isEqualTo(2);
        f.twin().completeNext();
        assertThat(started).isNotDone();
        f.twin().completeNext();
        assertThat(started).isCompleted();
        assertThat(f.twin().diskBit(PAGE0_CHUNKS - 1)).isTrue();
        assertThat(f.twin().diskBit(PAGE0_CHUNKS)).isTrue();
    }

    @Test
    void startWrite_pageWriteFails_futureFails_andTheNextWriterWritesThePageAgain() {
        Fixture f = fixture(100);
        CompletableFuture<Void> first = f.bitmap().startWrite(off(3), CHUNK);
        CompletableFuture<Void> queued = f.bitmap().startWrite(off(4), CHUNK);
        assertThat(f.twin().writes()).isEqualTo(1);

        f.twin().failNext(new IllegalStateException("members gone"));

        assertThat(first).isCompletedExceptionally();
        assertThat(queued).isCompletedExceptionally();
        assertThatThrownBy(first::get).isInstanceOf(ExecutionException.class).hasRootCauseMessage("members gone");
        f.bitmap().endWrite(off(3), CHUNK, false, false);
        f.bitmap().endWrite(off(4), CHUNK, false, false);
        CompletableFuture<Void> retry = f.bitmap().startWrite(off(3), CHUNK);
        assertThat(retry).as("the bit is still not durable").isNotDone();
        f.twin().completeAll();
        assertThat(retry).isCompleted();
        assertThat(f.twin().diskBit(3)).isTrue();
        assertThat(f.twin().diskBit(4)).isTrue();
    }

    @Test
    void startWrite_storageThrows_futureFails() {
        byte[] slot = Slots.image(100, CHUNK, 1, 1, 0);
        WriteIntentBitmap bitmap = Slots.load(slot, 0, (page, buf) -> {
            throw new IllegalStateException("no members");
        });

        assertThat(bitmap.startWrite(0, CHUNK)).isCompletedExceptionally();
    }

    @Test
    void startWrite_atCounterMax_waitsUntilAWriteEnds() {
        Fixture f = fixture(100);
        f.bitmap().startWrite(off(2), CHUNK);
        f.twin().completeAll();
        for (int i = 1; i < COUNTER_MAX - 2; i++) {
            assertThat(f.bitmap().startWrite(off(2), CHUNK)).isCompleted();
        }
        assertThat(f.bitmap().counter(2)).isEqualTo(COUNTER_MAX);

        // A range whose first chunk is free and second is full: the first stays counted while it waits.
        CompletableFuture<Void> blocked = f.bitmap().startWrite(off(1), 2L * CHUNK);
        f.twin().completeAll();

        assertThat(blocked).isNotDone();
        assertThat(f.bitmap().counter(1)).isEqualTo(3);
        assertThat(f.bitmap().counter(2)).isEqualTo(COUNTER_MAX);
        f.bitmap().endWrite(off(2), CHUNK, true, false);
        assertThat(f.bitmap().counter(2)).as("the waiter took the freed count").isEqualTo(COUNTER_MAX);
        assertThat(blocked).as("chunk 1's bit is not durable yet").isNotDone();
        f.twin().completeAll();
        assertThat(blocked).isCompleted();
        assertThat(f.twin().diskBit(1)).isTrue();
    }

    @Test
    void ranges_outsideTheBitmap_areRejected_andEmptyOnesIgnored() {
        Fixture f = fixture(100);

        assertThatThrownBy(() -> f.bitmap().startWrite(off(99), CHUNK + 1))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> f.bitmap().startWrite(-1, 1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> f.bitmap().startSync(100, false)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThat(f.bitmap().startWrite(off(5), 0)).isCompleted();
        assertThat(f.bitmap().counter(5)).isZero();
    }

    @Test
    void endWrite_withoutAWriteInFlight_isAnError() {
        Fixture f = fixture(100, 10, 10, WriteIntentBitmap.MAX_SECTOR, 4);

        assertThatThrownBy(() -> f.bitmap().endWrite(off(4), CHUNK, true, false))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("chunk 4");
    }

    // ---------------------------------------------------------------------------------------------------
    // endWrite and the daemon (md_bitmap_endwrite, md_bitmap_daemon_work)

    @Test
    void daemonPass_idleChunk_isClearedOnTheSecondPass() {
        Fixture f = fixture(100);
        f.write(9, true, false);
        assertThat(f.bitmap().counter(9)).isEqualTo(2);

        f.pass(false);
        assertThat(f.bitmap().counter(9)).isEqualTo(1);
        assertThat(f.twin().diskBit(9)).isTrue();

        f.pass(false);
        assertThat(f.bitmap().counter(9)).isZero();
        assertThat(f.twin().diskBit(9)).isFalse();
        assertThat(f.bitmap().dirtyChunks()).isZero();
    }

    @Test
    void daemonPass_writeInFlight_neverClears() {
        Fixture f = fixture(100);
        f.bitmap().startWrite(off(9), CHUNK);
        f.twin().completeAll();

        for (int i = 0; i < 5; i++) {
            f.pass(false);
        }

        assertThat(f.bitmap().counter(9)).isEqualTo(3);
        assertThat(f.twin().diskBit(9)).isTrue();
        f.bitmap().endWrite(off(9), CHUNK, true, false);
        f.pass(false);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    @Test
    void daemonPass_newWriteBetweenPasses_restartsTheCount() {
        Fixture f = fixture(100);
        f.write(9, true, false);
        f.pass(false);
        f.write(9, true, false);

        f.pass(false);

        assertThat(f.bitmap().counter(9)).isEqualTo(1);
        assertThat(f.twin().diskBit(9)).isTrue();
    }

    @Test
    void daemonPass_degraded_clearsNothing() {
        Fixture f = fixture(100);
        f.write(9, true, false);

        for (int i = 0; i < 4; i++) {
            f.pass(true);
        }
        assertThat(f.twin().diskBit(9)).isTrue();
        assertThat(f.bitmap().isDirty(9)).isTrue();

        f.pass(false);
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    @Test
    void endWrite_degraded_setsNeeded_andTheBitStaysUntilResynced() {
        Fixture f = fixture(100);
        f.write(9, true, true);

        assertThat(f.bitmap().counter(9)).isEqualTo(NEEDED_MASK | 2);
        for (int i = 0; i < 4; i++) {
            f.pass(false);
        }
        assertThat(f.twin().diskBit(9)).isTrue();
        assertThat(f.bitmap().nextChunkNeedingSync(0)).isEqualTo(9);

        assertThat(f.bitmap().startSync(9, false)).isTrue();
        assertThat(f.bitmap().counter(9)).isEqualTo(RESYNC_MASK | 2);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).as("RESYNC holds the bit").isTrue();
        f.bitmap().endSync(9, true);
        f.pass(false);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    @Test
    void endWrite_failedOnAMember_setsNeeded() {
        Fixture f = fixture(100);

        f.write(9, false, false);

        assertThat(f.bitmap().counter(9)).isEqualTo(NEEDED_MASK | 2);
        f.pass(false);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).isTrue();
    }

    @Test
    void endWrite_eventsMoved_superblockDurableBeforeAnyBitClears() {
        long chunks = PAGE0_CHUNKS + 1000;
        long onPage1 = PAGE0_CHUNKS + 10;
        Fixture f = fixture(chunks, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.write(onPage1, true, false);
        f.pass(false);
        assertThat(f.bitmap().counter(onPage1)).isEqualTo(1);
        f.bitmap().setEvents(6);
        f.twin().completeAll();
        assertThat(f.twin().diskEventsCleared()).isEqualTo(5);
        List<Long> eventsClearedOnDiskWhenPage1Cleared = new ArrayList<>();
        f.twin().onIssue(w -> {
            if (w.page() == 1 && !StorageTwin.bit(pageAsSlot(w), onPage1)) {
                eventsClearedOnDiskWhenPage1Cleared.add(f.twin().diskEventsCleared());
            }
        });

        f.write(3, true, false); // a successful write under events 6: events_cleared := 6, need_sync
        assertThat(f.bitmap().eventsCleared()).isEqualTo(6);
        CompletableFuture<Void> pass = f.bitmap().daemonPass(false);

        assertThat(f.twin().inFlightCount()).as("the superblock write").isEqualTo(1);
        assertThat(f.bitmap().counter(onPage1)).as("nothing cleared before the superblock is durable").isEqualTo(1);
        f.twin().completeAll();
        assertThat(pass).isCompleted();
        assertThat(f.twin().diskEventsCleared()).isEqualTo(6);
        assertThat(eventsClearedOnDiskWhenPage1Cleared).isEmpty();

        f.pass(false);
        assertThat(f.bitmap().counter(onPage1)).isZero();
        assertThat(f.twin().diskBit(onPage1)).isFalse();
        assertThat(eventsClearedOnDiskWhenPage1Cleared).containsExactly(6L);
    }

    /** Page 1's bytes laid out as a slot image, so chunk numbers can be looked up with {@link StorageTwin#bit}. */
    private static byte[] pageAsSlot(StorageTwin.Write w) {
        byte[] slot = new byte[(w.page() + 1) * WriteIntentBitmap.PAGE_BYTES];
        System.arraycopy(w.data(), 0, slot, w.page() * WriteIntentBitmap.PAGE_BYTES, WriteIntentBitmap.PAGE_BYTES);
        return slot;
    }

    @Test
    void daemonPass_needSyncRaisedWhileTheSuperblockIsWritten_clearsNothingThisPass() {
        Fixture f = fixture(100, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.write(9, true, false);
        f.pass(false);
        f.bitmap().setEvents(6);
        f.twin().completeAll();
        f.bitmap().startWrite(off(4), CHUNK);
        f.twin().completeAll();
        f.write(3, true, false);
        CompletableFuture<Void> pass = f.bitmap().daemonPass(false);
        assertThat(f.twin().inFlightCount()).isEqualTo(1);

        f.bitmap().setEvents(7);
        f.bitmap().endWrite(off(4), CHUNK, true, false); // events_cleared := 7 while the pass writes 6
        assertThat(f.bitmap().eventsCleared()).isEqualTo(7);
        f.twin().completeAll();

        assertThat(pass).isCompleted();
        assertThat(f.bitmap().counter(9)).as("need_sync again: no clearing").isEqualTo(1);
        f.pass(false);
        assertThat(f.twin().diskEventsCleared()).isEqualTo(7);
        assertThat(f.bitmap().counter(9)).as("events_cleared 7 was not durable during the scan").isEqualTo(1);
        f.pass(false);
        assertThat(f.bitmap().counter(9)).isZero();
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    @Test
    void daemonPass_superblockDurableAtOnce_clearsInTheSamePass_likeMd() {
        Fixture f = fixture(100, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.write(9, true, false);
        f.pass(false);
        f.bitmap().setEvents(6);
        f.twin().completeAll();
        f.write(3, true, false);
        f.twin().autoComplete(true);

        assertThat(f.bitmap().daemonPass(false)).isCompleted();

        assertThat(f.twin().diskEventsCleared()).isEqualTo(6);
        assertThat(f.bitmap().counter(9)).isZero();
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    @Test
    void daemonPass_superblockWriteFails_passFails_andTheNextPassWritesItAgain() {
        Fixture f = fixture(100, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.write(9, true, false);
        f.pass(false);
        f.bitmap().setEvents(6);
        f.twin().completeAll();
        f.write(3, true, false);

        CompletableFuture<Void> pass = f.bitmap().daemonPass(false);
        f.twin().failNext(new IllegalStateException("write error"));

        assertThat(pass).isCompletedExceptionally();
        assertThat(f.bitmap().counter(9)).isEqualTo(1);
        assertThat(f.twin().diskBit(9)).isTrue();
        f.pass(false);
        assertThat(f.twin().diskEventsCleared()).isEqualTo(6);
        assertThat(f.bitmap().counter(9)).as("cleared only once the rewrite is durable").isEqualTo(1);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).isFalse();
    }

    // ---------------------------------------------------------------------------------------------------
    // Resync (md_bitmap_start_sync, md_bitmap_end_sync, md_bitmap_close_sync)

    @Test
    void startSync_cleanChunk_needsNoSync() {
        Fixture f = fixture(100);
        f.write(9, true, false);

        assertThat(f.bitmap().startSync(9, false)).isFalse();
        assertThat(f.bitmap().startSync(10, false)).isFalse();
    }

    @Test
    void startSync_degraded_keepsNeeded() {
        Fixture f = fixture(100, 10, 10, 0, 9);

        assertThat(f.bitmap().startSync(9, true)).isTrue();

        assertThat(f.bitmap().counter(9)).isEqualTo(NEEDED_MASK | 2);
    }

    @Test
    void endSync_failed_setsNeededAgain() {
        Fixture f = fixture(100, 10, 10, 0, 9);
        assertThat(f.bitmap().startSync(9, false)).isTrue();
        assertThat(f.bitmap().startSync(9, false)).as("RESYNC still needs sync").isTrue();

        f.bitmap().endSync(9, false);

        assertThat(f.bitmap().counter(9)).isEqualTo(NEEDED_MASK | 2);
        f.pass(false);
        f.pass(false);
        assertThat(f.twin().diskBit(9)).isTrue();
    }

    @Test
    void closeSync_endsEveryResync() {
        Fixture f = fixture(100, 10, 10, 0, 1, 50);
        f.bitmap().startSync(1, false);
        f.bitmap().startSync(50, false);

        f.bitmap().closeSync();

        assertThat(f.bitmap().counter(1)).isEqualTo(2);
        assertThat(f.bitmap().counter(50)).isEqualTo(2);
        f.pass(false);
        f.pass(false);
        assertThat(f.bitmap().dirtyChunks()).isZero();
    }

    @Test
    void nextChunkNeedingSync_walksOnlyTheNeededChunks() {
        long chunks = 1_000_003;
        Fixture f = fixture(chunks, 10, 10, 0, 0, 63, 64, 500_000, chunks - 1);
        f.write(700_000, true, false); // dirty but not needed

        List<Long> found = new ArrayList<>();
        for (long c = f.bitmap().nextChunkNeedingSync(0); c >= 0; c = f.bitmap().nextChunkNeedingSync(c + 1)) {
            found.add(c);
        }

        assertThat(found).containsExactly(0L, 63L, 64L, 500_000L, chunks - 1);
        assertThat(f.bitmap().nextChunkNeedingSync(chunks)).isEqualTo(-1);
    }

    @Test
    void setNeeded_range_setsBitsAndNeeded_durableBeforeTheFutureCompletes() {
        Fixture f = fixture(PAGE0_CHUNKS + 64);
        f.write(5, true, false);

        CompletableFuture<Void> durable = f.bitmap().setNeeded(0, PAGE0_CHUNKS + 64);

        assertThat(durable).isNotDone();
        assertThat(f.bitmap().counter(5)).isEqualTo(NEEDED_MASK | 2);
        assertThat(f.bitmap().counter(6)).isEqualTo(NEEDED_MASK | 2);
        f.twin().completeAll();
        assertThat(durable).isCompleted();
        assertThat(f.twin().diskBit(PAGE0_CHUNKS + 63)).isTrue();
        assertThat(f.bitmap().dirtyChunks()).isEqualTo(PAGE0_CHUNKS + 64);
        assertThat(f.bitmap().status().neededChunks()).isEqualTo(PAGE0_CHUNKS + 64);
    }

    @Test
    void setNeededOnDirty_flagsOnlyDirtyChunks() {
        Fixture f = fixture(100);
        f.write(5, true, false);
        f.write(70, true, false);
        int writes = f.twin().writes();

        assertThat(f.bitmap().setNeededOnDirty()).isEqualTo(2);

        assertThat(f.bitmap().needsSync(5)).isTrue();
        assertThat(f.bitmap().needsSync(70)).isTrue();
        assertThat(f.bitmap().needsSync(6)).isFalse();
        assertThat(f.twin().writes()).as("bits already on disk").isEqualTo(writes);
    }

    // ---------------------------------------------------------------------------------------------------
    // Merging another slot (copy_from_slot)

    @Test
    void mergeFrom_otherSlotsBits_becomeNeededHere_withTheTrueFirstAndLastChunk() {
        Fixture f = fixture(PAGE0_CHUNKS + 100);
        byte[] other = Slots.image(PAGE0_CHUNKS + 100, CHUNK, 3, 3, 0, 0, 17, PAGE0_CHUNKS + 99);

        MergeResult merged = f.bitmap().mergeFrom(ByteBuffer.wrap(other).position(256), PAGE0_CHUNKS + 100);

        assertThat(merged.anyDirty()).isTrue();
        assertThat(merged.chunksFound()).isEqualTo(3);
        assertThat(merged.firstChunk()).as("chunk 0 counts (md's lo quirk not copied)").isZero();
        assertThat(merged.lastChunk()).isEqualTo(PAGE0_CHUNKS + 99);
        assertThat(f.bitmap().counter(0)).isEqualTo(NEEDED_MASK | 2);
        assertThat(f.bitmap().counter(PAGE0_CHUNKS + 99)).isEqualTo(NEEDED_MASK | 2);
        assertThat(merged.durable()).isNotDone();
        f.twin().completeAll();
        assertThat(merged.durable()).isCompleted();
        assertThat(f.twin().diskBit(0)).isTrue();
        assertThat(f.twin().diskBit(PAGE0_CHUNKS + 99)).isTrue();
    }

    @Test
    void mergeFrom_onlyChunkZeroDirty_isStillReported() {
        Fixture f = fixture(100);
        byte[] other = Slots.image(100, CHUNK, 3, 3, 0, 0);

        MergeResult merged = f.bitmap().mergeFrom(ByteBuffer.wrap(other, 256, other.length - 256), 100);

        assertThat(merged.chunksFound()).isEqualTo(1);
        assertThat(merged.firstChunk()).isZero();
        assertThat(merged.lastChunk()).isZero();
    }

    @Test
    void mergeFrom_cleanSlot_findsNothing_andWritesNothing() {
        Fixture f = fixture(100);

        MergeResult merged = f.bitmap().mergeFrom(ByteBuffer.wrap(new byte[13]), 100);

        assertThat(merged.anyDirty()).isFalse();
        assertThat(merged.firstChunk()).isEqualTo(-1);
        assertThat(merged.lastChunk()).isEqualTo(-1);
        assertThat(merged.durable()).isCompleted();
        assertThat(f.twin().writes()).isZero();
    }

    @Test
    void mergeFrom_bitsPastOurChunkCount_areIgnored() {
        Fixture f = fixture(10);

        MergeResult merged = f.bitmap().mergeFrom(ByteBuffer.wrap(new byte[] {0, (byte) 0xff}), 16);

        assertThat(merged.chunksFound()).isEqualTo(2);
        assertThat(merged.lastChunk()).isEqualTo(9);
    }

    // ---------------------------------------------------------------------------------------------------
    // Superblock (md_bitmap_update_sb) and flush

    @Test
    void setEvents_writesEventsAndEventsClearedToPageZero() {
        Fixture f = fixture(100, 5, 4, WriteIntentBitmap.MAX_SECTOR);

        CompletableFuture<Void> written = f.bitmap().setEvents(9);

        assertThat(written).isNotDone();
        f.twin().completeAll();
        assertThat(written).isCompleted();
        assertThat(f.twin().diskEvents()).isEqualTo(9);
        assertThat(f.twin().diskEventsCleared()).isEqualTo(4);
        assertThat(f.bitmap().superblock().events()).isEqualTo(9);
    }

    @Test
    void setEvents_belowEventsCleared_bringsEventsClearedDown() {
        Fixture f = fixture(100, 8, 8, WriteIntentBitmap.MAX_SECTOR);

        f.bitmap().setEvents(7);
        f.twin().completeAll();

        assertThat(f.bitmap().eventsCleared()).isEqualTo(7);
        assertThat(f.twin().diskEventsCleared()).isEqualTo(7);
    }

    @Test
    void endWrite_degraded_doesNotMoveEventsCleared() {
        Fixture f = fixture(100, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.bitmap().setEvents(6);
        f.twin().completeAll();

        f.write(1, true, true);
        f.write(2, false, false);
        assertThat(f.bitmap().eventsCleared()).isEqualTo(5);
        f.write(3, true, false);
        assertThat(f.bitmap().eventsCleared()).isEqualTo(6);
    }

    @Test
    void markStale_reachesTheDisk_andTheNextLoadNeedsEverything() {
        Fixture f = fixture(100);

        f.bitmap().markStale();
        f.twin().completeAll();

        assertThat(f.twin().diskState() & BitmapSuperblock.STATE_STALE).isNotZero();
        WriteIntentBitmap reloaded = Slots.load(f.twin().disk(), WriteIntentBitmap.MAX_SECTOR, f.twin());
        assertThat(reloaded.status().neededChunks()).isEqualTo(100);
        assertThat(reloaded.status().stale()).isTrue();
    }

    @Test
    void flushAll_idleArray_leavesOnlyNeededChunksOnDisk() {
        Fixture f = fixture(100, 5, 5, WriteIntentBitmap.MAX_SECTOR);
        f.write(1, true, false);
        f.write(2, true, true);

        CompletableFuture<Void> flushed = f.bitmap().flushAll(false);
        f.twin().completeAll();

        assertThat(flushed).isCompleted();
        assertThat(f.twin().diskBit(1)).isFalse();
        assertThat(f.twin().diskBit(2)).isTrue();
        assertThat(f.twin().diskEvents()).isEqualTo(5);
    }

    @Test
    void unplug_writesPagesWithPendingChanges() {
        Fixture f = fixture(100);
        f.write(1, true, false);
        f.bitmap().daemonPass(false);
        f.bitmap().daemonPass(false);
        f.twin().completeAll();

        assertThat(f.bitmap().unplug()).as("nothing left to write").isCompleted();
        f.bitmap().setNeeded(7, 8);
        CompletableFuture<Void> unplugged = f.bitmap().unplug();
        assertThat(unplugged).isNotDone();
        f.twin().completeAll();
        assertThat(unplugged).isCompleted();
    }

    @Test
    void status_reportsGeometryAndCounts() {
        Fixture f = fixture(5000, 10, 10, 0, 1, 4000);
        f.write(2, true, false);

        BitmapStatus s = f.bitmap().status();

        assertThat(s.chunks()).isEqualTo(5000);
        assertThat(s.chunkSize()).isEqualTo(CHUNK);
        assertThat(s.slotPages()).isEqualTo(1);
        assertThat(s.counterPages()).isEqualTo(3);
        assertThat(s.counterPagesInUse()).isEqualTo(2);
        assertThat(s.dirtyChunks()).isEqualTo(3);
        assertThat(s.neededChunks()).isEqualTo(2);
        assertThat(s.pageWrites()).isEqualTo(1);
        assertThat(s.clustered()).isTrue();
        assertThat(s.mdstat()).isEqualTo("bitmap: 3/3 pages [12KB], 4KB chunk");
        assertThat(new BitmapStatus(16, 64 << 20, 1, 1, 0, 0, 0, 1, 1, false, false, 0).mdstat())
                .isEqualTo("bitmap: 0/1 pages [0KB], 65536KB chunk");
        assertThat(f.bitmap().daemonSleepSeconds()).isEqualTo(5);
        assertThat(f.bitmap().chunkSectors()).isEqualTo(8);
    }

    // ---------------------------------------------------------------------------------------------------
    // Resizing in place (md_bitmap_resize)

    @Test
    void resize_growWithinTheSlotPage_newChunksClean_syncSizeOnDisk() {
        Fixture f = fixture(100, 10, 10, WriteIntentBitmap.MAX_SECTOR, 3);
        assertThat(f.bitmap().capacityChunks()).isEqualTo(PAGE0_CHUNKS);
        CompletableFuture<Void> r = f.bitmap().resize(400 * 8L);
        f.twin().completeAll();
        assertThat(r).isCompleted();
        assertThat(f.bitmap().chunks()).isEqualTo(400);
        assertThat(f.bitmap().isDirty(3)).isTrue();
        assertThat(f.bitmap().isDirty(399)).isFalse();
        f.write(399, true, false);
        assertThat(f.bitmap().isDirty(399)).isTrue();
        byte[] disk = f.twin().crash(new java.util.Random(1));
        assertThat(BitmapSuperblockCodec.decode(ByteBuffer.wrap(disk)).syncSize()).isEqualTo(400 * 8L);
        assertThat(StorageTwin.bit(disk, 399)).isTrue();
    }

    @Test
    void resize_shrink_clearsTheBitsCutOff_refusesChunksWithWritesInFlight() {
        Fixture f = fixture(100, 10, 10, WriteIntentBitmap.MAX_SECTOR, 2, 90);
        CompletableFuture<Void> busy = f.bitmap().startWrite(off(80), CHUNK);
        f.twin().completeAll();
        assertThat(busy).isCompleted();
        assertThatThrownBy(() -> f.bitmap().resize(50 * 8L)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("chunk 80 has writes in flight");
        assertThat(f.bitmap().chunks()).isEqualTo(100);
        f.bitmap().endWrite(off(80), CHUNK, true, false);
        CompletableFuture<Void> r = f.bitmap().resize(50 * 8L);
        f.twin().completeAll();
        assertThat(r).isCompleted();
        assertThat(f.bitmap().chunks()).isEqualTo(50);
        assertThat(f.bitmap().dirtyChunks()).isEqualTo(1);
        byte[] disk = f.twin().crash(new java.util.Random(1));
        assertThat(StorageTwin.bit(disk, 90)).isFalse();
        assertThat(StorageTwin.bit(disk, 2)).isTrue();
        assertThatThrownBy(() -> f.bitmap().startWrite(off(60), CHUNK)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void resize_pastTheSlotsPages_refused() {
        Fixture f = fixture(100);
        assertThatThrownBy(() -> f.bitmap().resize((PAGE0_CHUNKS + 1) * 8)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("holds at most " + PAGE0_CHUNKS + " chunks");
    }
}
