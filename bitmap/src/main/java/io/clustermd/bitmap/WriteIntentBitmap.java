package io.clustermd.bitmap;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * The write-intent bitmap of this node's slot: Linux md's {@code struct bitmap} with its
 * {@code struct bitmap_counts} (md-bitmap.c), one 16-bit counter per chunk in memory and one bit per chunk
 * on disk, written through {@link BitmapStorage}.
 *
 * <h2>Counters</h2>
 * Each chunk has md's {@code bitmap_counter_t}: bit 15 {@link #NEEDED_MASK} (the chunk needs resync),
 * bit 14 {@link #RESYNC_MASK} (its resync is in progress) and a 14-bit count (at most
 * {@link #COUNTER_MAX}). Count 0: clean, bit clear. 1: bit set, idle, cleared by the next daemon pass.
 * 2: bit set, idle, becomes 1 on the next pass. 2 + k: k writes in flight. Whenever the count is non-zero
 * the chunk's bit is set in the in-memory slot image, and a count only goes from 1 to 0 in a daemon pass,
 * which clears the bit at the same time.
 *
 * <h2>Why the order matters</h2>
 * <ol>
 *   <li><b>Set before write.</b> The future of {@link #startWrite} completes only when every page holding a
 *       bit the write depends on is durable. The data write is issued after that, so after any crash
 *       every chunk that might differ between the mirrors has its bit on disk and is resynced.</li>
 *   <li><b>Clear only idle chunks, lazily.</b> A bit is cleared only when its count has been idle for two
 *       consecutive daemon passes, never while a write is in flight, never while NEEDED or RESYNC, never in a
 *       degraded pass. The page with cleared bits is written at the end of the pass; a crash before that
 *       merely resyncs a clean chunk.</li>
 *   <li><b>Superblock before cleared bits ({@code need_sync}).</b> A successful non-degraded write moves
 *       {@code events_cleared} up to {@code events}. The superblock with the new {@code events_cleared} is
 *       made durable before any bit is cleared: a member that left the array before that event then has
 *       {@code events < events_cleared} and is refused bitmap-based re-add, because bits it depends on may
 *       be gone.</li>
 * </ol>
 *
 * <h2>Threading</h2>
 * <ul>
 *   <li>{@link #startWrite}, {@link #endWrite}, {@link #isDirty}, {@link #needsSync}: any thread, any
 *       number at once. A write to chunks whose bits are already durable costs one compare-and-set per
 *       chunk and a volatile read per page; it takes no lock and returns a shared completed future.</li>
 *   <li>Clean chunks, page writes, superblock changes and daemon passes take one internal lock, briefly;
 *       nothing calls {@link BitmapStorage} or completes a future while holding it.</li>
 *   <li>{@link #daemonPass} and {@link #flushAll} are meant for one caller (md's bitmap daemon) and run
 *       concurrently with I/O; every call is a pass, so two calls in quick succession clear idle chunks
 *       early (harmless for consistency, bad for hot chunks): schedule them {@code daemon_sleep} apart.</li>
 *   <li>Futures complete on the thread that completes the {@link BitmapStorage} future, or on the calling
 *       thread when nothing had to be written. Returned futures belong to the caller, except the shared
 *       completed future of the fast path, which ignores completion attempts and refuses obtrusion.</li>
 * </ul>
 * The bitmap needs no executor or clock of its own: the caller drives {@link #daemonPass} every
 * {@code daemon_sleep} seconds ({@link #daemonSleepSeconds()}) from its own scheduler.
 */
public final class WriteIntentBitmap {

    /** md's {@code NEEDED_MASK}: the chunk needs resync. */
    public static final int NEEDED_MASK = 0x8000;
    /** md's {@code RESYNC_MASK}: the chunk's resync is in progress. */
    public static final int RESYNC_MASK = 0x4000;
    /** md's {@code COUNTER_MAX}: the largest count; a writer finding it waits. */
    public static final int COUNTER_MAX = 0x3fff;
    /** Bytes in one bitmap "file page" (md's PAGE_SIZE for bitmaps; slots are rounded to it). */
    public static final int PAGE_BYTES = BitmapGeometry.SLOT_ALIGNMENT;
    /** md's {@code PAGE_COUNTER_RATIO}: 16-bit counters per 4 KiB counter page. */
    public static final int COUNTERS_PER_PAGE = PAGE_BYTES * 8 / 16;
    /** md's {@code MaxSector} ({@code ~(sector_t)0}) as a resync start: the array is clean. */
    public static final long MAX_SECTOR = -1L;

    /** Largest chunk count held (counters are indexed by int). */
    static final long MAX_CHUNKS = Integer.MAX_VALUE - 64L;

    private static final int FLAGS = NEEDED_MASK | RESYNC_MASK;
    private static final int COUNTER_PAGE_SHIFT = 11;
    private static final int PAGE_SHIFT = 12;
    private static final int SB = BitmapGeometry.SUPERBLOCK_BYTES;

    private static final VarHandle COUNTERS = MethodHandles.arrayElementVarHandle(char[].class);
    private static final VarHandle PENDING = MethodHandles.arrayElementVarHandle(byte[].class);
    private static final VarHandle LE_LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE_INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private static final CompletableFuture<Void> DONE = new Done();
    /** Page image sequence of a STALE load: every page starts one change ahead of the disk. */
    private static final long STALE_LOAD_SEQ = 1;

    private final BitmapStorage storage;
    private final ReentrantLock lock = new ReentrantLock();
    /** Chunks covered now; changed only by {@link #resize}, within the slot's pages. */
    private volatile int chunks;
    private final int chunkShift;
    private final int chunkSize;
    private final int daemonSleep;
    private final boolean clustered;
    /** The slot as it should be on disk: superblock + bits + tail. Guarded by {@link #lock}. */
    private final byte[] image;
    /** One {@code bitmap_counter_t} per chunk; changed by compare-and-set only. */
    private final char[] counters;
    /** md's per-counter-page {@code pending} flag: something for the daemon to look at. Volatile access. */
    private final byte[] pending;
    /** Non-zero counters per counter page (md's {@code bp[].count}). Guarded by {@link #lock}. */
    private final int[] inUse;
    private final Page[] pages;
    /** Writers waiting for a counter below COUNTER_MAX (md's {@code overflow_wait}). Guarded by {@link #lock}. */
    private final ArrayDeque<PendingStart> overflow = new ArrayDeque<>();

    private volatile long events;
    private volatile long eventsCleared;
    /** md's {@code need_sync}: events_cleared moved, the superblock must be written before clearing. */
    private boolean needSync;
    /** Loaded a STALE slot: clear BITMAP_STALE once every page with the re-set bits is durable. */
    private boolean staleClearPending;
    /** Chunks with a non-zero counter; written under the lock. */
    private volatile long dirty;
    /**
     * Page 0's {@code imageSeq} when the current {@code events_cleared} went into the image: bits may be
     * cleared only once page 0 is durable at least that far. Guarded by {@link #lock}.
     */
    private long eventsClearedSeq;
    private long pageWrites;

    private WriteIntentBitmap(byte[] image, BitmapSuperblock sb, int chunks, long resyncStartSector,
                              BitmapStorage storage) {
        this.storage = storage;
        this.image = image;
        this.chunks = chunks;
        this.chunkSize = sb.chunkSize();
        this.chunkShift = Integer.numberOfTrailingZeros(chunkSize);
        this.daemonSleep = sb.daemonSleep();
        this.clustered = sb.clustered();
        // Counters for every chunk the slot's pages can hold, so that the array may grow in place.
        int capacity = (int) Math.min(MAX_CHUNKS, Math.max(chunks, (image.length - (long) SB) * 8));
        this.counters = new char[capacity];
        int counterPages = (int) ((capacity + (long) COUNTERS_PER_PAGE - 1) >>> COUNTER_PAGE_SHIFT);
        this.pending = new byte[counterPages];
        this.inUse = new int[counterPages];
        this.pages = new Page[image.length / PAGE_BYTES];
        for (int i = 0; i < pages.length; i++) {
            pages[i] = new Page(i);
        }
        this.events = sb.events();
        this.eventsCleared = sb.eventsCleared();
        boolean stale = (sb.state() & BitmapSuperblock.STATE_STALE) != 0;
        loadCounters(stale, resyncStartSector);
    }

    /**
     * Builds the bitmap from this node's slot as read from disk: md's {@code md_bitmap_create} +
     * {@code md_bitmap_load} / {@code md_bitmap_init_from_disk}.
     * <ol>
     *   <li>Every bit set on disk (among the first {@code chunks}) gives counter 2, plus NEEDED when the
     *       chunk ends at or after {@code resyncStartSector}: {@code (chunk + 1) * chunkSectors >= start},
     *       compared unsigned. The caller computes md's {@code start}: the array's {@code resync_offset}
     *       ({@code recovery_cp}) when it is not degraded or the slot's {@code events_cleared == events},
     *       else 0. {@link #MAX_SECTOR} (or any value past the end) loads every bit as not NEEDED: they are
     *       just cleared by two daemon passes, as after {@code mdadm --create --assume-clean}.</li>
     *   <li>A slot whose superblock has BITMAP_STALE is out of date: every chunk is set and NEEDED (a full
     *       resync). The bits are written by the next {@link #daemonPass} / {@link #unplug}; STALE is cleared
     *       on disk only after all of them are durable.</li>
     *   <li>Bits at or past the chunk count are ignored and kept as they are (mdadm fills slot 0's whole
     *       pages with ones).</li>
     * </ol>
     * Nothing is written here.
     *
     * @param slotImage         the slot's bytes from its first byte: 256-byte superblock, then the bits; at least
     *                          {@link BitmapGeometry#slotBytes} remaining (the position does not move)
     * @param resyncStartSector md's {@code start}, in sectors of the bitmap's sync space
     * @param storage           where pages of this slot are written
     * @throws BitmapFormatException when the superblock is one md refuses or the image is too short
     */
    public static WriteIntentBitmap load(ByteBuffer slotImage, long resyncStartSector, BitmapStorage storage)
            throws BitmapFormatException {
        Objects.requireNonNull(slotImage, "slotImage");
        Objects.requireNonNull(storage, "storage");
        if (slotImage.remaining() < SB) {
            throw new BitmapFormatException("bitmap slot: image is " + slotImage.remaining()
                    + " bytes, expected at least the " + SB + "-byte bitmap superblock");
        }
        BitmapSuperblock sb = BitmapSuperblockCodec.decode(slotImage);
        BitmapSuperblockCodec.validate(sb, null, "bitmap slot");
        long chunks = sb.chunks();
        if (chunks > MAX_CHUNKS) {
            throw new BitmapFormatException("bitmap slot: " + chunks + " chunks (sync_size " + sb.syncSize()
                    + ", chunksize " + sb.chunkSize() + "), expected at most " + MAX_CHUNKS);
        }
        long slotBytes = BitmapGeometry.slotBytes(chunks);
        if (slotImage.remaining() < slotBytes) {
            throw new BitmapFormatException("bitmap slot: image is " + slotImage.remaining() + " bytes, expected "
                    + slotBytes + " for " + chunks + " chunks");
        }
        byte[] image = new byte[(int) slotBytes];
        slotImage.get(slotImage.position(), image);
        return new WriteIntentBitmap(image, sb, (int) chunks, resyncStartSector, storage);
    }

    private void loadCounters(boolean stale, long resyncStartSector) {
        long chunkSectors = chunkSectors();
        for (int c = 0; c < chunks; c++) {
            if (!stale && (c & 63) == 0 && c + 64 <= chunks && imageWord(c) == 0) {
                c += 63;
                continue;
            }
            if (!stale && !imageBit(c)) {
                continue;
            }
            boolean needed = stale || Long.compareUnsigned((c + 1L) * chunkSectors, resyncStartSector) >= 0;
            if (stale) {
                image[SB + (c >>> 3)] |= (byte) (1 << (c & 7));
            }
            counters[c] = (char) (2 | (needed ? NEEDED_MASK : 0));
            inUse[c >>> COUNTER_PAGE_SHIFT]++;
            pending[c >>> COUNTER_PAGE_SHIFT] = 1;
            dirty++;
        }
        if (stale) {
            staleClearPending = true;
            for (Page p : pages) {
                p.imageSeq = STALE_LOAD_SEQ;
                p.setSeq = STALE_LOAD_SEQ;
                p.unsettled = true;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Writes

    /**
     * Announces a write to {@code [offsetBytes, offsetBytes + lengthBytes)} of the sync space: md's
     * {@code md_bitmap_startwrite} followed by the {@code md_bitmap_unplug} that raid1/raid10 do before
     * submitting the data.
     * <ol>
     *   <li>For each chunk: count 0 → set the bit in the in-memory page and count := 2; count 1 → 2; then
     *       count++. A count at {@link #COUNTER_MAX} makes the writer wait (the future completes later) until
     *       an {@link #endWrite} lowers it; chunks before it stay counted, as in md.</li>
     *   <li>The future completes when every page whose bits this write relies on is durable. Writers that
     *       need the same page share its write: with a write of that page in flight, later bits are written
     *       by one more write after it, whatever the number of writers.</li>
     *   <li>Only then may the caller write the data.</li>
     * </ol>
     * Every call must be matched by exactly one {@link #endWrite} of the same range, also when the future
     * fails (the bitmap page could not be written: do not write the data, end with {@code succeeded=false}).
     *
     * @return completes when the bits are durable; exceptionally with the {@link BitmapStorage} failure
     * @throws IndexOutOfBoundsException when the range is outside the bitmap's chunks
     */
    public CompletableFuture<Void> startWrite(long offsetBytes, long lengthBytes) {
        if (!checkRange(offsetBytes, lengthBytes)) {
            return DONE;
        }
        int first = (int) (offsetBytes >>> chunkShift);
        int last = (int) ((offsetBytes + lengthBytes - 1) >>> chunkShift);
        boolean settled = true;
        for (int c = first; c <= last; c++) {
            if (!tryIncrement(c)) {
                return startWriteSlow(first, c, last);
            }
            // Read after the counter's compare-and-set: whoever set this chunk's bit marked its page
            // unsettled before publishing the counter, and only a completed write settles it again.
            if (settled && pages[pageOfChunk(c)].unsettled) {
                settled = false;
            }
        }
        if (settled) {
            return DONE;
        }
        return underLock(post -> {
            CompletableFuture<Void> f = awaitPagesLocked(pageOfChunk(first), pageOfChunk(last), true, post);
            return f == DONE ? DONE : f.copy();
        });
    }

    /** The lock-free step: counts 1..COUNTER_MAX-1 move up without touching the bit. */
    private boolean tryIncrement(int c) {
        for (;;) {
            char v = (char) COUNTERS.getVolatile(counters, c);
            int count = v & COUNTER_MAX;
            if (count == 0 || count == COUNTER_MAX) {
                return false;
            }
            char nv = count == 1 ? (char) ((v & FLAGS) | 3) : (char) (v + 1);
            if (COUNTERS.compareAndSet(counters, c, v, nv)) {
                return true;
            }
        }
    }

    private CompletableFuture<Void> startWriteSlow(int first, int next, int last) {
        return underLock(post -> {
            PendingStart s = new PendingStart(first, next, last);
            CompletableFuture<Void> f = advanceLocked(s, post);
            if (f == null) {
                return s.future();
            }
            return f == DONE ? DONE : f.copy();
        });
    }

    /**
     * Counts the chunks of {@code s} from {@code s.next}; returns the future of the pages, or null when
     * {@code s} was queued behind a counter at COUNTER_MAX.
     */
    private CompletableFuture<Void> advanceLocked(PendingStart s, List<Runnable> post) {
        while (s.next <= s.last) {
            if (!incrementLocked(s.next)) {
                overflow.add(s);
                return null;
            }
            s.next++;
        }
        return awaitPagesLocked(pageOfChunk(s.first), pageOfChunk(s.last), true, post);
    }

    /** md_bitmap_startwrite's switch for one chunk, with the lock held. False at COUNTER_MAX. */
    private boolean incrementLocked(int c) {
        for (;;) {
            char v = (char) COUNTERS.getVolatile(counters, c);
            int count = v & COUNTER_MAX;
            if (count == COUNTER_MAX) {
                return false;
            }
            if (count == 0) {
                // 1. the bit goes into the page image and the page is marked unsettled,
                // 2. then the counter is published (a lock-free writer reading it sees the page unsettled).
                setBitLocked(c);
                if (COUNTERS.compareAndSet(counters, c, v, (char) ((v & FLAGS) | 3))) {
                    countInUseLocked(c, +1);
                    return true;
                }
                continue;
            }
            char nv = count == 1 ? (char) ((v & FLAGS) | 3) : (char) (v + 1);
            if (COUNTERS.compareAndSet(counters, c, v, nv)) {
                return true;
            }
        }
    }

    /**
     * Ends a write announced by {@link #startWrite}: md's {@code md_bitmap_endwrite}.
     * <ol>
     *   <li>If the write succeeded on every member and the array is not degraded, and
     *       {@code events_cleared < events}: {@code events_cleared := events} and {@code need_sync}, so the
     *       next pass writes the superblock before it clears any bit. This happens before the count drops,
     *       so no pass can clear this chunk under the old {@code events_cleared}.</li>
     *   <li>For each chunk: count--; if the array is degraded or the write failed on some member, NEEDED is
     *       set (the missing mirror needs the chunk; the bit then stays until a resync).</li>
     *   <li>A count back at 2 leaves the chunk to the daemon; a count that was at COUNTER_MAX wakes the
     *       writers waiting for it.</li>
     * </ol>
     *
     * @param succeeded the data reached every member that was written
     * @param degraded  the array is degraded (a mirror is missing or faulty)
     * @throws IllegalStateException when a chunk has no write in flight (endWrite without startWrite)
     */
    public void endWrite(long offsetBytes, long lengthBytes, boolean succeeded, boolean degraded) {
        if (!checkRange(offsetBytes, lengthBytes)) {
            return;
        }
        if (succeeded && !degraded && eventsCleared < events) {
            underLock(post -> {
                if (eventsCleared < events) {
                    eventsCleared = events;
                    needSync = true;
                }
                return null;
            });
        }
        int first = (int) (offsetBytes >>> chunkShift);
        int last = (int) ((offsetBytes + lengthBytes - 1) >>> chunkShift);
        boolean wake = false;
        boolean needed = degraded || !succeeded;
        for (int c = first; c <= last; c++) {
            for (;;) {
                char v = (char) COUNTERS.getVolatile(counters, c);
                int count = v & COUNTER_MAX;
                if (count <= 2) {
                    throw new IllegalStateException("endWrite on chunk " + c + " with no write in flight (counter 0x"
                            + Integer.toHexString(v) + ")");
                }
                char nv = (char) ((v - 1) | (needed ? NEEDED_MASK : 0));
                if (COUNTERS.compareAndSet(counters, c, v, nv)) {
                    wake |= count == COUNTER_MAX;
                    if (nv <= 2) {
                        markPending(c);
                    }
                    break;
                }
            }
        }
        if (wake) {
            wakeOverflow();
        }
    }

    /** md's {@code md_bitmap_set_pending}: the daemon must look at this chunk's counter page. */
    private void markPending(int c) {
        int cp = c >>> COUNTER_PAGE_SHIFT;
        // Volatile read then write: if the daemon reset the flag after our counter change, it also saw
        // the change; otherwise the flag we leave set brings it back next pass.
        if ((byte) PENDING.getVolatile(pending, cp) == 0) {
            PENDING.setVolatile(pending, cp, (byte) 1);
        }
    }

    private void wakeOverflow() {
        underLock(post -> {
            List<PendingStart> waiting = new ArrayList<>(overflow);
            overflow.clear();
            for (PendingStart s : waiting) {
                CompletableFuture<Void> f = advanceLocked(s, post);
                if (f != null) {
                    post.add(() -> relay(f, s.future()));
                }
            }
            return null;
        });
    }

    // ---------------------------------------------------------------------------------------------------
    // Daemon

    /**
     * One pass of md's bitmap daemon, {@code md_bitmap_daemon_work}. The caller runs it every
     * {@code daemon_sleep} seconds; every call is one pass, and its counter scan happens during the call.
     * <ol>
     *   <li>A slot loaded STALE: its pages (all bits re-set) are written; once all of them are durable,
     *       BITMAP_STALE is cleared in the superblock (this pass if the writes completed at once, else the
     *       next one). Clearing it first could lose the full resync in a crash.</li>
     *   <li>{@code need_sync}: {@code events_cleared} goes into the superblock and page 0 is written. Until
     *       that write is durable no bit is cleared: md writes the superblock and the cleared bits in the same
     *       pass and relies on submission order; we wait, so with a storage that is not instantly durable the
     *       clearing happens on the first pass after it. A failed superblock write is retried by the next
     *       pass, and clearing stays off meanwhile.</li>
     *   <li>For every counter page flagged pending: count 2 → 1; count exactly 1 (not NEEDED, not RESYNC)
     *       → 0 and the bit is cleared in the page image, unless the pass is degraded or step 2 is
     *       unfinished. Hence a chunk is cleared by the second consecutive pass that finds it idle.</li>
     *   <li>Every page whose image changed is written (lazily: writers never wait for cleared bits).</li>
     * </ol>
     *
     * @param degraded the array is degraded: no bit is cleared in this pass
     * @return completes when the writes this pass started (or joined) are durable; exceptionally when one of
     *         them failed (the changes stay in memory and go out with a later write)
     */
    public CompletableFuture<Void> daemonPass(boolean degraded) {
        List<CompletableFuture<Void>> writes = new ArrayList<>(3);
        // 1. Bits of a STALE load first.
        underLock(post -> {
            if (staleClearPending) {
                addPending(writes, awaitPagesLocked(0, pages.length - 1, false, post));
            }
            return null;
        });
        // 2. The superblock: STALE off once the bits are durable, events_cleared if it moved.
        underLock(post -> {
            boolean changed = false;
            if (staleClearPending && staleBitsDurableLocked()) {
                staleClearPending = false;
                putSbInt(BitmapSuperblockCodec.OFF_STATE, sbInt(BitmapSuperblockCodec.OFF_STATE)
                        & ~BitmapSuperblock.STATE_STALE);
                changed = true;
            }
            if (needSync) {
                needSync = false;
                putSbLong(BitmapSuperblockCodec.OFF_EVENTS_CLEARED, eventsCleared);
                changed = true;
            }
            Page p0 = pages[0];
            if (changed) {
                p0.imageSeq++;
                eventsClearedSeq = p0.imageSeq;
                addPending(writes, waitForLocked(p0, p0.imageSeq, post));
            } else if (p0.durableSeq < eventsClearedSeq) {
                addPending(writes, waitForLocked(p0, eventsClearedSeq, post));
            }
            return null;
        });
        // 3. The counters.
        for (int cp = 0; cp < pending.length; cp++) {
            if ((byte) PENDING.getVolatile(pending, cp) == 0) {
                continue;
            }
            int counterPage = cp;
            underLock(post -> {
                PENDING.setVolatile(pending, counterPage, (byte) 0);
                boolean mayClear = !degraded && !needSync && pages[0].durableSeq >= eventsClearedSeq;
                if (scanCounterPageLocked(counterPage, mayClear)) {
                    PENDING.setVolatile(pending, counterPage, (byte) 1);
                }
                return null;
            });
        }
        // 4. Lazy writes of what changed.
        underLock(post -> {
            addPending(writes, awaitPagesLocked(0, pages.length - 1, false, post));
            return null;
        });
        return switch (writes.size()) {
            case 0 -> DONE;
            case 1 -> writes.get(0).copy();
            default -> CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0]));
        };
    }

    private static void addPending(List<CompletableFuture<Void>> writes, CompletableFuture<Void> f) {
        if (f != DONE) {
            writes.add(f);
        }
    }

    /** Every page holds the bits a STALE load set (they are only cleared after a resync, later). */
    private boolean staleBitsDurableLocked() {
        for (Page p : pages) {
            if (p.durableSeq < STALE_LOAD_SEQ) {
                return false;
            }
        }
        return true;
    }

    /** The counter loop of md_bitmap_daemon_work for one counter page; true if it must be looked at again. */
    private boolean scanCounterPageLocked(int counterPage, boolean mayClear) {
        int from = counterPage << COUNTER_PAGE_SHIFT;
        int to = (int) Math.min(chunks, (long) from + COUNTERS_PER_PAGE);
        boolean again = false;
        for (int c = from; c < to; c++) {
            for (;;) {
                char v = (char) COUNTERS.getVolatile(counters, c);
                if (v == 1) {
                    if (!mayClear) {
                        again = true;
                        break;
                    }
                    // Counter first, bit second: a writer racing us either bumped the counter (our
                    // compare-and-set fails) or finds 0 and sets the bit again under the lock after us.
                    if (COUNTERS.compareAndSet(counters, c, v, (char) 0)) {
                        clearBitLocked(c);
                        countInUseLocked(c, -1);
                        break;
                    }
                } else if (v == 2) {
                    if (COUNTERS.compareAndSet(counters, c, v, (char) 1)) {
                        again = true;
                        break;
                    }
                } else {
                    break;
                }
            }
        }
        return again;
    }

    /**
     * md's {@code md_bitmap_flush} for a clean stop: three daemon passes (each after the previous one is
     * durable), then the superblock with the current {@code events} and {@code events_cleared}
     * ({@code md_bitmap_update_sb}) and every page whose image is newer than the disk. On an idle array
     * that is not degraded this leaves only NEEDED chunks set on disk.
     */
    public CompletableFuture<Void> flushAll(boolean degraded) {
        return daemonPass(degraded)
                .thenCompose(v -> daemonPass(degraded))
                .thenCompose(v -> daemonPass(degraded))
                .thenCompose(v -> underLock(post -> {
                    putSbLong(BitmapSuperblockCodec.OFF_EVENTS, events);
                    putSbLong(BitmapSuperblockCodec.OFF_EVENTS_CLEARED, eventsCleared);
                    pages[0].imageSeq++;
                    return awaitPagesLocked(0, pages.length - 1, false, post);
                }));
    }

    /**
     * md's {@code md_bitmap_unplug}: writes every page whose in-memory image is newer than the disk (set and
     * cleared bits alike) and completes when all of them are durable.
     */
    public CompletableFuture<Void> unplug() {
        return underLock(post -> {
            CompletableFuture<Void> f = awaitPagesLocked(0, pages.length - 1, false, post);
            return f == DONE ? DONE : f.copy();
        });
    }

    // ---------------------------------------------------------------------------------------------------
    // Superblock

    /**
     * md's {@code md_bitmap_update_sb}, called when the array's {@code events} moves (every md superblock
     * write): {@code events} := {@code newEvents}; if that is below {@code events_cleared} (md's "rocking back
     * to read-only"), {@code events_cleared} follows it down and {@code need_sync} is dropped. Both fields
     * go into the superblock.
     *
     * @return completes when page 0 with the new superblock is durable
     */
    public CompletableFuture<Void> setEvents(long newEvents) {
        return underLock(post -> {
            events = newEvents;
            boolean rolledBack = newEvents < eventsCleared;
            if (rolledBack) {
                eventsCleared = newEvents;
                needSync = false;
            }
            putSbLong(BitmapSuperblockCodec.OFF_EVENTS, newEvents);
            putSbLong(BitmapSuperblockCodec.OFF_EVENTS_CLEARED, eventsCleared);
            CompletableFuture<Void> written = superblockWrittenLocked(post);
            if (rolledBack) {
                // The lowered events_cleared replaces the pending need_sync write: it must be durable
                // before the next clear.
                eventsClearedSeq = pages[0].imageSeq;
            }
            return written;
        });
    }

    /** The most chunks this slot's pages hold: how far {@link #resize} can grow the bitmap in place. */
    public long capacityChunks() {
        return counters.length;
    }

    /**
     * md's {@code md_bitmap_resize} within the slot's own pages (its size on disk stays, so no other
     * node's slot moves): the bitmap covers {@code syncSectors} from now on and {@code sync_size}
     * says so. Chunks added start clean. Chunks cut off must be idle (the array no longer reaches
     * them): their counters and bits are cleared.
     *
     * @return completes when the superblock and the pages with cleared bits are durable
     * @throws IllegalArgumentException when the slot's pages cannot hold that many chunks
     * @throws IllegalStateException    when a chunk to cut off has writes in flight
     */
    public CompletableFuture<Void> resize(long syncSectors) {
        long n = (syncSectors + chunkSectors() - 1) / chunkSectors();
        if (syncSectors <= 0 || n > counters.length) {
            throw new IllegalArgumentException("a bitmap slot of " + pages.length + " page(s) holds at most "
                    + counters.length + " chunks of " + chunkSize + " bytes; " + syncSectors + " sectors need " + n);
        }
        return underLock(post -> {
            for (int c = (int) n; c < chunks; c++) {
                char v = (char) COUNTERS.getVolatile(counters, c);
                if ((v & COUNTER_MAX) > 2) {
                    throw new IllegalStateException("chunk " + c + " has writes in flight: it cannot be cut off");
                }
            }
            for (int c = (int) n; c < chunks; c++) {
                char v = (char) COUNTERS.getVolatile(counters, c);
                if (v != 0) {
                    COUNTERS.setVolatile(counters, c, (char) 0);
                    countInUseLocked(c, -1);
                }
                if (imageBit(c)) {
                    clearBitLocked(c);
                }
            }
            // Bits past the old end are whatever was there (mdadm fills slot 0's pages with ones):
            // chunks that come into range start clean.
            for (int c = chunks; c < n; c++) {
                if (imageBit(c) && (char) COUNTERS.getVolatile(counters, c) == 0) {
                    clearBitLocked(c);
                }
            }
            chunks = (int) n;
            putSbLong(BitmapSuperblockCodec.OFF_SYNC_SIZE, syncSectors);
            CompletableFuture<Void> sb = superblockWrittenLocked(post);
            CompletableFuture<Void> bits = awaitPagesLocked(0, pages.length - 1, false, post);
            return bits == DONE ? sb : CompletableFuture.allOf(sb, bits);
        });
    }

    /**
     * Sets BITMAP_STALE in the superblock (md's {@code BITMAP_STALE}, shown by {@code mdadm -X} as "Out of
     * date"): whoever loads this slot next treats every chunk as needing resync.
     *
     * @return completes when page 0 is durable
     */
    public CompletableFuture<Void> markStale() {
        return underLock(post -> {
            staleClearPending = false;
            putSbInt(BitmapSuperblockCodec.OFF_STATE, sbInt(BitmapSuperblockCodec.OFF_STATE)
                    | BitmapSuperblock.STATE_STALE);
            return superblockWrittenLocked(post);
        });
    }

    private CompletableFuture<Void> superblockWrittenLocked(List<Runnable> post) {
        Page p0 = pages[0];
        p0.imageSeq++;
        return waitForLocked(p0, p0.imageSeq, post).copy();
    }

    /** The superblock as it is in memory (what the next write of page 0 puts on disk). */
    public BitmapSuperblock superblock() {
        return underLock(post -> BitmapSuperblockCodec.decode(ByteBuffer.wrap(image)));
    }

    /** md's {@code mddev->events} as last given to {@link #setEvents} (initially the superblock's). */
    public long events() {
        return events;
    }

    /** The in-memory {@code events_cleared}. */
    public long eventsCleared() {
        return eventsCleared;
    }

    // ---------------------------------------------------------------------------------------------------
    // Resync

    /**
     * md's {@code md_bitmap_start_sync} for one chunk: true when it needs syncing (RESYNC or NEEDED). When
     * the array is not degraded, NEEDED becomes RESYNC (md does not set or clear bits while degraded).
     */
    public boolean startSync(long chunk, boolean degraded) {
        int c = checkChunk(chunk);
        for (;;) {
            char v = (char) COUNTERS.getVolatile(counters, c);
            if ((v & RESYNC_MASK) != 0) {
                return true;
            }
            if ((v & NEEDED_MASK) == 0) {
                return false;
            }
            if (degraded || COUNTERS.compareAndSet(counters, c, v, (char) ((v & ~NEEDED_MASK) | RESYNC_MASK))) {
                return true;
            }
        }
    }

    /**
     * md's {@code md_bitmap_end_sync} for one chunk: clears RESYNC; a failed (aborted) sync sets NEEDED
     * again, a successful one leaves the chunk to the daemon, which clears it after two idle passes.
     */
    public void endSync(long chunk, boolean succeeded) {
        int c = checkChunk(chunk);
        for (;;) {
            char v = (char) COUNTERS.getVolatile(counters, c);
            if ((v & RESYNC_MASK) == 0) {
                return;
            }
            char nv = (char) (v & ~RESYNC_MASK);
            if (!succeeded && (nv & NEEDED_MASK) == 0) {
                nv |= NEEDED_MASK;
            }
            if (COUNTERS.compareAndSet(counters, c, v, nv)) {
                if (nv <= 2) {
                    markPending(c);
                }
                return;
            }
        }
    }

    /** md's {@code md_bitmap_close_sync}: a resync that ran to the end ends the sync of every chunk. */
    public void closeSync() {
        for (int c = 0; c < chunks; c++) {
            if (((char) COUNTERS.getVolatile(counters, c) & RESYNC_MASK) != 0) {
                endSync(c, true);
            }
        }
    }

    /**
     * The first chunk at or after {@code fromChunk} that needs syncing (NEEDED or RESYNC), or -1. Skips 64
     * clean chunks at a time, so walking a mostly clean bitmap costs about one read per 64 chunks.
     */
    public long nextChunkNeedingSync(long fromChunk) {
        if (fromChunk < 0) {
            throw new IndexOutOfBoundsException("chunk " + fromChunk);
        }
        return underLock(post -> {
            for (long c = fromChunk; c < chunks; c++) {
                int i = (int) c;
                if ((i & 63) == 0 && i + 64L <= chunks && imageWord(i) == 0) {
                    c += 63;
                    continue;
                }
                if (imageBit(i) && ((char) COUNTERS.getVolatile(counters, i) & FLAGS) != 0) {
                    return c;
                }
            }
            return -1L;
        });
    }

    /**
     * Marks chunks {@code [fromChunk, toChunk)} as needing resync: md's {@code md_bitmap_dirty_bits} /
     * {@code md_bitmap_set_memory_bits(needed=1)} + {@code md_bitmap_file_set_bit}. Clean chunks get
     * count 2 and their bit; all get NEEDED. Used for a new array without {@code --assume-clean}
     * (everything) or a range known to differ.
     *
     * @return completes when the bits are durable
     */
    public CompletableFuture<Void> setNeeded(long fromChunk, long toChunk) {
        if (fromChunk < 0 || toChunk > chunks || fromChunk > toChunk) {
            throw new IndexOutOfBoundsException("chunks [" + fromChunk + ", " + toChunk + ") outside [0, " + chunks
                    + ")");
        }
        if (fromChunk == toChunk) {
            return DONE;
        }
        return underLock(post -> {
            for (int c = (int) fromChunk; c < toChunk; c++) {
                setMemoryBitsLocked(c);
            }
            CompletableFuture<Void> f = awaitPagesLocked(pageOfChunk(fromChunk), pageOfChunk(toChunk - 1), true, post);
            return f == DONE ? DONE : f.copy();
        });
    }

    /**
     * Sets NEEDED on every chunk that is dirty now (count non-zero), e.g. before recovering a re-added
     * member from this bitmap. The bits are already set, so nothing is written.
     *
     * @return chunks now NEEDED or RESYNC
     */
    public long setNeededOnDirty() {
        return underLock(post -> {
            long n = 0;
            for (int c = 0; c < chunks; c++) {
                if ((c & 63) == 0 && c + 64L <= chunks && imageWord(c) == 0) {
                    c += 63;
                    continue;
                }
                for (;;) {
                    char v = (char) COUNTERS.getVolatile(counters, c);
                    if ((v & COUNTER_MAX) == 0) {
                        break;
                    }
                    if ((v & FLAGS) != 0) {
                        n++;
                        break;
                    }
                    if (COUNTERS.compareAndSet(counters, c, v, (char) (v | NEEDED_MASK))) {
                        n++;
                        break;
                    }
                }
            }
            return n;
        });
    }

    /**
     * Merges another node's slot into this one: md's {@code copy_from_slot} (md-bitmap.c), used at join for
     * unowned slots and when a peer died. Every chunk set in {@code otherSlotBits} gets its bit here and
     * NEEDED (count 2 if it was clean). The other slot is not changed; clear it only after
     * {@link MergeResult#durable()} completes.
     *
     * @param otherSlotBits the other slot's bit region from its position (chunk {@code c} is bit {@code c % 8}
     *                      of byte {@code c / 8}); not modified, its position does not move
     * @param otherChunks   chunks the other slot covers; bits at or past this bitmap's chunk count are ignored
     */
    public MergeResult mergeFrom(ByteBuffer otherSlotBits, long otherChunks) {
        Objects.requireNonNull(otherSlotBits, "otherSlotBits");
        long n = Math.min(Math.max(otherChunks, 0), Math.min(chunks, (long) otherSlotBits.remaining() * 8));
        int base = otherSlotBits.position();
        return underLock(post -> {
            long found = 0;
            long first = -1;
            long last = -1;
            for (int c = 0; c < n; c++) {
                if ((c & 7) == 0 && otherSlotBits.get(base + (c >>> 3)) == 0) {
                    c += 7;
                    continue;
                }
                if ((otherSlotBits.get(base + (c >>> 3)) & (1 << (c & 7))) == 0) {
                    continue;
                }
                found++;
                if (first < 0) {
                    first = c;
                }
                last = c;
                setMemoryBitsLocked(c);
            }
            CompletableFuture<Void> f = found == 0 ? DONE
                    : awaitPagesLocked(pageOfChunk(first), pageOfChunk(last), true, post);
            return new MergeResult(found, first, last, f == DONE ? DONE : f.copy());
        });
    }

    /** md_bitmap_set_memory_bits(needed=1) + md_bitmap_file_set_bit for one chunk, lock held. */
    private void setMemoryBitsLocked(int c) {
        for (;;) {
            char v = (char) COUNTERS.getVolatile(counters, c);
            boolean clean = (v & COUNTER_MAX) == 0;
            if (clean) {
                setBitLocked(c);
            }
            char nv = (char) ((clean ? (v | 2) : v) | NEEDED_MASK);
            if (COUNTERS.compareAndSet(counters, c, v, nv)) {
                if (clean) {
                    countInUseLocked(c, +1);
                }
                return;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Queries

    /** True when the chunk's bit is set in memory (a write in flight, recent, or needing resync). */
    public boolean isDirty(long chunk) {
        return ((char) COUNTERS.getVolatile(counters, checkChunk(chunk)) & COUNTER_MAX) != 0;
    }

    /** True when the chunk is NEEDED or being resynced: reads of it should come from one member only. */
    public boolean needsSync(long chunk) {
        return ((char) COUNTERS.getVolatile(counters, checkChunk(chunk)) & FLAGS) != 0;
    }

    /**
     * True when any chunk of {@code [offsetBytes, offsetBytes + lengthBytes)} needs syncing: the read path's
     * question (raid1 reads such a range from the first in-sync member only). Lock-free.
     */
    public boolean anyNeedsSync(long offsetBytes, long lengthBytes) {
        if (!checkRange(offsetBytes, lengthBytes)) {
            return false;
        }
        int last = (int) ((offsetBytes + lengthBytes - 1) >>> chunkShift);
        for (int c = (int) (offsetBytes >>> chunkShift); c <= last; c++) {
            if (((char) COUNTERS.getVolatile(counters, c) & FLAGS) != 0) {
                return true;
            }
        }
        return false;
    }

    /** The raw {@code bitmap_counter_t} of a chunk (flags and count), for status and tests. */
    public int counter(long chunk) {
        return (char) COUNTERS.getVolatile(counters, checkChunk(chunk));
    }

    /** Chunks whose bit is set in memory. */
    public long dirtyChunks() {
        return dirty;
    }

    /** Chunks (bits) this slot tracks. */
    public long chunks() {
        return chunks;
    }

    /** Bytes per chunk. */
    public int chunkSize() {
        return chunkSize;
    }

    /** Sectors per chunk (md's {@code 1 << chunkshift}). */
    public long chunkSectors() {
        return (long) chunkSize / BitmapGeometry.SECTOR;
    }

    /** Pages of the on-disk slot, i.e. the page indexes {@link BitmapStorage} is called with. */
    public int slotPages() {
        return pages.length;
    }

    /** The superblock's {@code daemon_sleep}: seconds between {@link #daemonPass} calls. */
    public int daemonSleepSeconds() {
        return daemonSleep;
    }

    /** A copy of the slot as it should be on disk now (superblock, bits, tail). */
    public ByteBuffer slotImage() {
        return underLock(post -> ByteBuffer.wrap(image.clone()));
    }

    /** Bitmap page writes issued since load (md's bitmap page writes; metrics). */
    public long pageWrites() {
        return underLock(post -> pageWrites);
    }

    /** A snapshot for status output ({@code md_bitmap_status}). */
    public BitmapStatus status() {
        long needed = 0;
        for (int c = 0; c < chunks; c++) {
            if (((char) COUNTERS.getVolatile(counters, c) & FLAGS) != 0) {
                needed++;
            }
        }
        long neededChunks = needed;
        return underLock(post -> {
            long used = 0;
            for (int n : inUse) {
                if (n > 0) {
                    used++;
                }
            }
            boolean stale = (sbInt(BitmapSuperblockCodec.OFF_STATE) & BitmapSuperblock.STATE_STALE) != 0;
            int counterPages = (int) ((chunks + (long) COUNTERS_PER_PAGE - 1) >>> COUNTER_PAGE_SHIFT);
            return new BitmapStatus(chunks, chunkSize, pages.length, counterPages, used, dirty, neededChunks, events,
                    eventsCleared, stale, clustered, pageWrites);
        });
    }

    // ---------------------------------------------------------------------------------------------------
    // Pages

    /**
     * Returns a future that completes when {@code p} is durable at image sequence {@code seq} or later,
     * starting a write if none is in flight. With a write in flight that does not cover {@code seq}, the
     * caller joins the one write queued behind it (coalescing). Returns {@link #DONE} when already durable.
     * Lock held; the write itself is issued by a {@code post} action.
     */
    private CompletableFuture<Void> waitForLocked(Page p, long seq, List<Runnable> post) {
        if (p.durableSeq >= seq) {
            return DONE;
        }
        if (p.writing) {
            if (p.writingSeq >= seq) {
                return p.writingFuture;
            }
            if (p.nextFuture == null) {
                p.nextFuture = new CompletableFuture<>();
            }
            return p.nextFuture;
        }
        CompletableFuture<Void> f = new CompletableFuture<>();
        post.add(beginWriteLocked(p, f));
        return f;
    }

    /** Snapshots the page for a write that completes {@code f}; returns the action that issues it. */
    private Runnable beginWriteLocked(Page p, CompletableFuture<Void> f) {
        long seq = p.imageSeq;
        p.writing = true;
        p.writingSeq = seq;
        p.writingFuture = f;
        if (p.buffer == null) {
            p.buffer = ByteBuffer.allocateDirect(2 * PAGE_BYTES).alignedSlice(PAGE_BYTES).slice(0, PAGE_BYTES);
        }
        p.buffer.put(0, image, p.index * PAGE_BYTES, PAGE_BYTES);
        pageWrites++;
        ByteBuffer view = p.buffer.asReadOnlyBuffer();
        return () -> issue(p, seq, view);
    }

    private void issue(Page p, long seq, ByteBuffer view) {
        CompletableFuture<Void> w;
        try {
            w = storage.writePage(p.index, view);
            if (w == null) {
                w = CompletableFuture.failedFuture(new NullPointerException("BitmapStorage.writePage returned null"));
            }
        } catch (RuntimeException e) {
            w = CompletableFuture.failedFuture(e);
        }
        w.whenComplete((v, ex) -> pageWritten(p, seq, ex));
    }

    /** A page write ended: settle the page, start the queued write if any, then wake the waiters. */
    private void pageWritten(Page p, long seq, Throwable failure) {
        Throwable ex = failure instanceof CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        CompletableFuture<Void> done;
        CompletableFuture<Void> failedNext = null;
        Runnable issueNext = null;
        lock.lock();
        try {
            done = p.writingFuture;
            p.writing = false;
            p.writingFuture = null;
            if (ex == null && seq > p.durableSeq) {
                p.durableSeq = seq;
            }
            p.unsettled = p.durableSeq < p.setSeq;
            CompletableFuture<Void> next = p.nextFuture;
            p.nextFuture = null;
            if (next != null) {
                if (ex == null) {
                    issueNext = beginWriteLocked(p, next);
                } else {
                    failedNext = next;
                }
            }
        } finally {
            lock.unlock();
        }
        if (issueNext != null) {
            issueNext.run();
        }
        complete(done, ex);
        if (failedNext != null) {
            failedNext.completeExceptionally(ex);
        }
    }

    /**
     * The future of pages {@code [fromPage, toPage]} being durable: with {@code setOnly}, up to their last
     * set bit (what a writer needs); otherwise up to their whole image (cleared bits and superblock too).
     * Internal: may be a page's shared future, so callers hand out {@code copy()}.
     */
    private CompletableFuture<Void> awaitPagesLocked(int fromPage, int toPage, boolean setOnly,
                                                     List<Runnable> post) {
        CompletableFuture<Void> single = null;
        List<CompletableFuture<Void>> many = null;
        for (int i = fromPage; i <= toPage; i++) {
            Page p = pages[i];
            long target = setOnly ? p.setSeq : p.imageSeq;
            CompletableFuture<Void> f = waitForLocked(p, target, post);
            if (f == DONE) {
                continue;
            }
            if (single == null) {
                single = f;
            } else {
                if (many == null) {
                    many = new ArrayList<>();
                    many.add(single);
                }
                many.add(f);
            }
        }
        if (many != null) {
            return CompletableFuture.allOf(many.toArray(new CompletableFuture<?>[0]));
        }
        return single == null ? DONE : single;
    }

    private void setBitLocked(int c) {
        int off = SB + (c >>> 3);
        image[off] |= (byte) (1 << (c & 7));
        Page p = pages[off >>> PAGE_SHIFT];
        p.imageSeq++;
        p.setSeq = p.imageSeq;
        p.unsettled = true;
    }

    private void clearBitLocked(int c) {
        int off = SB + (c >>> 3);
        image[off] &= (byte) ~(1 << (c & 7));
        pages[off >>> PAGE_SHIFT].imageSeq++;
    }

    private void countInUseLocked(int c, int delta) {
        inUse[c >>> COUNTER_PAGE_SHIFT] += delta;
        dirty = dirty + delta;
    }

    private static int pageOfChunk(long c) {
        return (int) ((SB + (c >>> 3)) >>> PAGE_SHIFT);
    }

    private boolean imageBit(int c) {
        return (image[SB + (c >>> 3)] & (1 << (c & 7))) != 0;
    }

    /** Bits of chunks {@code c..c+63} ({@code c} a multiple of 64): one little-endian long of the image. */
    private long imageWord(int c) {
        return (long) LE_LONG.get(image, SB + (c >>> 3));
    }

    private int sbInt(int off) {
        return (int) LE_INT.get(image, off);
    }

    private void putSbInt(int off, int value) {
        LE_INT.set(image, off, value);
    }

    private void putSbLong(int off, long value) {
        LE_LONG.set(image, off, value);
    }

    /** False for an empty range; throws for one outside the chunks. */
    private boolean checkRange(long offsetBytes, long lengthBytes) {
        long coverage = (long) chunks << chunkShift;
        if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes > coverage - lengthBytes) {
            throw new IndexOutOfBoundsException("range [" + offsetBytes + ", +" + lengthBytes
                    + ") outside the bitmap's " + coverage + " bytes");
        }
        return lengthBytes > 0;
    }

    private int checkChunk(long chunk) {
        if (chunk < 0 || chunk >= chunks) {
            throw new IndexOutOfBoundsException("chunk " + chunk + " outside [0, " + chunks + ")");
        }
        return (int) chunk;
    }

    /**
     * Runs {@code body} under the lock, then (unlocked) the actions it queued: page writes to issue and
     * futures to complete never run with the lock held.
     */
    private <T> T underLock(LockedBody<T> body) {
        List<Runnable> post = new ArrayList<>(2);
        T result;
        lock.lock();
        try {
            result = body.run(post);
        } finally {
            lock.unlock();
        }
        for (Runnable r : post) {
            r.run();
        }
        return result;
    }

    private static void relay(CompletableFuture<Void> from, CompletableFuture<Void> to) {
        from.whenComplete((v, ex) -> complete(to, ex));
    }

    private static void complete(CompletableFuture<Void> f, Throwable ex) {
        if (ex == null) {
            f.complete(null);
        } else {
            f.completeExceptionally(ex instanceof CompletionException && ex.getCause() != null ? ex.getCause() : ex);
        }
    }

    @FunctionalInterface
    private interface LockedBody<T> {
        T run(List<Runnable> post);
    }

    /** One 4 KiB page of the slot: md's {@code filemap[i]} with its DIRTY/NEEDWRITE attributes. */
    private static final class Page {
        final int index;
        /** Bumped on every change of the page's bytes. Lock. */
        long imageSeq;
        /** {@code imageSeq} of the last bit set in the page (md's BITMAP_PAGE_DIRTY). Lock. */
        long setSeq;
        /** {@code imageSeq} of the newest durable write. Lock. */
        long durableSeq;
        /** {@code durableSeq < setSeq}: a set bit is not durable yet. Read without the lock by writers. */
        volatile boolean unsettled;
        boolean writing;
        long writingSeq;
        CompletableFuture<Void> writingFuture;
        /** Waiters for changes newer than the write in flight: the one write that follows it. */
        CompletableFuture<Void> nextFuture;
        ByteBuffer buffer;

        Page(int index) {
            this.index = index;
        }
    }

    /** A startWrite waiting at COUNTER_MAX: resumes from {@code next} when a count drops. */
    private static final class PendingStart {
        final int first;
        final int last;
        int next;
        private CompletableFuture<Void> future;

        PendingStart(int first, int next, int last) {
            this.first = first;
            this.next = next;
            this.last = last;
        }

        CompletableFuture<Void> future() {
            if (future == null) {
                future = new CompletableFuture<>();
            }
            return future;
        }
    }

    /** The fast path's shared answer: completed, and nobody can change it. */
    private static final class Done extends CompletableFuture<Void> {
        Done() {
            super.complete(null);
        }

        @Override
        public boolean complete(Void value) {
            return false;
        }

        @Override
        public boolean completeExceptionally(Throwable ex) {
            return false;
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            return false;
        }

        @Override
        public void obtrudeValue(Void value) {
            throw new UnsupportedOperationException("shared completed future");
        }

        @Override
        public void obtrudeException(Throwable ex) {
            throw new UnsupportedOperationException("shared completed future");
        }

        @Override
        public CompletableFuture<Void> completeAsync(Supplier<? extends Void> supplier, Executor executor) {
            return this;
        }

        @Override
        public <U> CompletableFuture<U> newIncompleteFuture() {
            return new CompletableFuture<>();
        }
    }
}
