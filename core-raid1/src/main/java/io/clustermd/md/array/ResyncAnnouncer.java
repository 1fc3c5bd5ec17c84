package io.clustermd.md.array;

import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/**
 * A resync's windows as the other nodes of a cluster see them: md-cluster's
 * {@code resync_info_update} calls from the sync thread (RESYNCING through
 * {@link ClusterOperations#resyncInfoUpdate}), sized by the copy speed and sent one window ahead
 * of the copy. On one node every announcement completes at once. Used by the sync thread only.
 */
final class ResyncAnnouncer {

    private final MdArray array;
    private final SyncWaits waits;
    private final SyncSpeed speed;
    private final SyncThrottle throttle;
    private final LongSupplier nanoTime;
    private final LongSupplier startedNanos;

    /**
     * @param startedNanos when the running pass began (its first second's speed is not yet known)
     */
    ResyncAnnouncer(MdArray array, SyncWaits waits, SyncSpeed speed, SyncThrottle throttle, LongSupplier nanoTime,
                    LongSupplier startedNanos) {
        this.array = array;
        this.waits = waits;
        this.speed = speed;
        this.throttle = throttle;
        this.nanoTime = nanoTime;
        this.startedNanos = startedNanos;
    }

    /** The next window's announcement, sent while the current one is copied; null when none is under way. */
    private record PendingWindow(long end, CompletableFuture<Void> future) {
    }

    private PendingWindow nextWindow;

    /**
     * Makes sure the other nodes of a cluster hold their writes in {@code [from, to)} before it is
     * copied (md-cluster's RESYNCING; on one node every announcement completes at once), and
     * returns how far the windows announced so far reach:
     * <ol>
     *   <li>a range beyond the announced end waits for the next window's announcement, if one is
     *       under way; if that does not reach far enough, a window from {@code from} is announced
     *       and waited for;</li>
     *   <li>once the copy is in the second half of the announced window, the next window (from
     *       {@code from}, so it still covers what is being copied) is announced without waiting,
     *       so the copy does not stop for a message round trip at every window's end.</li>
     * </ol>
     */
    long announce(long from, long to, long announcedEnd, long chunkBytes) {
        long size = array.size();
        if (to > announcedEnd) {                                                            // 1.
            if (nextWindow != null) {
                PendingWindow w = nextWindow;
                nextWindow = null;
                waits.await(w.future(), () -> "the other nodes' acknowledgement of the resync window up to byte "
                        + w.end());
                announcedEnd = w.end();
            }
            if (to > announcedEnd) {
                long end = Math.min(size, Math.max(to, from + announcedWindow(chunkBytes)));
                waits.await(array.cluster().resyncInfoUpdate(from / 512, end / 512),
                        () -> "the other nodes' acknowledgement of the resync window up to byte " + end);
                announcedEnd = end;
            }
        }
        long window = announcedWindow(chunkBytes);
        if (nextWindow == null && announcedEnd < size && announcedEnd - to < window / 2) {    // 2.
            long end = Math.min(size, Math.max(announcedEnd, to) + window);
            nextWindow = new PendingWindow(end, array.cluster().resyncInfoUpdate(from / 512, end / 512));
        }
        return announcedEnd;
    }

    /**
     * How far ahead a resync announces its window to the other nodes of a cluster (md-cluster's
     * RESYNCING; a no-op on one node): about {@link #ANNOUNCE_NANOS} of copying at the current
     * speed (in the first second, the throttle's limit), in whole chunks, at least one chunk and at
     * most {@link #MAX_ANNOUNCED_WINDOW}. One
     * message per chunk would make the messages, not the disks, set the speed (1 MiB chunks: 60 MB/s
     * against a disk's 1.2 GB/s, measured); a window much longer than a second would hold the other
     * nodes' writes in it for that long when the resync is throttled.
     */
    private long announcedWindow(long chunkBytes) {
        long now = nanoTime.getAsLong();
        long bps = speed.bytesPerSecond(now);
        if (now - startedNanos.getAsLong() < SyncSpeed.MARK_STEP_NANOS) {
            // the first second's measure is mostly the first announcement's round trip: until the
            // speed is known, assume the throttle's limit in force (the copy cannot be faster)
            bps = Math.max(bps, throttle.limit());
        }
        long want = Math.min(MAX_ANNOUNCED_WINDOW, bps / (1_000_000_000L / ANNOUNCE_NANOS));
        return Math.max(chunkBytes, want / chunkBytes * chunkBytes);
    }

    /** The time a resync window announced to the other nodes lasts at the current speed. */
    static final long ANNOUNCE_NANOS = 250_000_000L;
    /** The longest window announced at once. */
    static final long MAX_ANNOUNCED_WINDOW = 256L << 20;

    /**
     * At the end of a pass: waits (bounded by the cluster's message timeouts) for a window
     * announcement still under way, failed or not, so a later (0, 0) cannot overtake it.
     */
    void settle() {
        if (nextWindow != null) {
            nextWindow.future().exceptionally(e -> null).join();
            nextWindow = null;
        }
    }
}
