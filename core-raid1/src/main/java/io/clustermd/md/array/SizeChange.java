package io.clustermd.md.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The used size of every member changing while the array runs: md's {@code update_size}
 * ({@code mdadm --grow --size}) with md-cluster's protocol for it: the superblocks and
 * METADATA_UPDATED first (every node resizes its bitmap), then CHANGE_CAPACITY (every node makes
 * the new capacity visible). The bitmap is resized in place, within its slot's pages, so no other
 * node's slot moves; a size that needs more bitmap than that is refused.
 *
 * <ul>
 *   <li>Growing: the new chunks are marked NEEDED in this node's slot (durably, before the other
 *       nodes hear of the size, so they read the new area from the first member until this node's
 *       resync of it ends, as for a dead node's chunks), and resynced.</li>
 *   <li>Shrinking: refused while the part cut off holds anything but zeroes (unless forced); requests
 *       beyond the new end are refused from the first step on every node, and writes still running
 *       there finish before the bitmap lets go of their chunks.</li>
 * </ul>
 */
public final class SizeChange {

    private static final System.Logger LOG = System.getLogger(SizeChange.class.getName());
    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);
    /** How long a shrink waits for writes still running past the new end. */
    static final long DRAIN_SECONDS = 10;
    /** Smallest size: md's raid1 minimum of 64 KiB per member. */
    static final long MIN_BYTES = 64 << 10;

    private final MdArray array;

    SizeChange(MdArray array) {
        this.array = array;
    }

    /** The most each member offers: the smallest data area of the members in use or spare. */
    long maxBytes() {
        long max = Long.MAX_VALUE;
        synchronized (array) {
            for (ArrayMember m : array.members) {
                if (m.state != MemberState.FAULTY) {
                    max = Math.min(max, m.dataSizeSectors * 512);
                }
            }
        }
        return max;
    }

    /**
     * {@code clusterctl grow --size}: {@code bytes} per member (a whole number of KiB; 0 = as much
     * as the members offer). Refused, with nothing changed, for raid10, a size no member can hold,
     * one the bitmap slots cannot cover in place, while a sync runs, or a shrink that would cut off
     * data (unless {@code force}).
     */
    public CompletableFuture<Void> change(long bytes, boolean force) throws MdFormatException {
        long max = maxBytes();
        long wanted = bytes == 0 ? max / 1024 * 1024 : bytes;
        long old;
        synchronized (array) {
            MdSuperblock ref = array.reference;
            if (ref.level() != 1) {
                throw new MdFormatException("raid" + ref.level() + " cannot change its size here; only raid1 can grow"
                        + " --size");
            }
            old = array.componentBytes();
            if (wanted % 1024 != 0 || wanted < MIN_BYTES) {
                throw new MdFormatException("--size must be a whole number of KiB and at least " + (MIN_BYTES >> 10)
                        + "K, got " + wanted + " bytes");
            }
            if (wanted > max) {
                throw new MdFormatException(String.format("--size %dK is more than the smallest member offers (%dK);"
                        + " use --size=max, or larger members", wanted >> 10, max >> 10));
            }
            long cap = array.bitmap().capacityBytes();
            if (wanted > cap) {
                throw new MdFormatException(String.format("--size %dK needs a larger bitmap than its slots on the"
                        + " members hold (%dK per member at a %dK bitmap chunk): change the bitmap (grow --bitmap on the"
                        + " stopped array, with a larger --bitmap-chunk) first", wanted >> 10, cap >> 10,
                        array.bitmap().bitmapChunkBytes() >> 10));
            }
            if (array.syncPending() || array.sync().progress().action() != SyncEngine.Action.IDLE
                    || array.members.stream().anyMatch(m -> m.state == MemberState.REBUILDING)) {
                throw new MdFormatException("the array is busy (a resync or recovery runs or waits); try again when"
                        + " it is idle");
            }
        }
        if (wanted == old) {
            return DONE;
        }
        array.memberChanges().beginChange();
        CompletableFuture<Void> f;
        try {
            f = wanted > old ? grow(old, wanted) : shrink(old, wanted, force);
        } catch (RuntimeException e) {
            array.memberChanges().endChange();
            throw e;
        }
        return f.whenComplete((v, e) -> array.memberChanges().endChange());
    }

    /*
     * Growing from old to wanted bytes:
     *   1. this node's bitmap covers the new size, and the new chunks are NEEDED in its slot, durably;
     *   2. the superblocks say the new size; METADATA_UPDATED: every node resizes its bitmap and reads
     *      the new area from the first member until our resync of it ends;
     *   3. CHANGE_CAPACITY: every node serves the new size; then we do;
     *   4. the resync of the new chunks.
     */
    private CompletableFuture<Void> grow(long old, long wanted) {
        BitmapOps bitmap = array.bitmap();
        try {
            // On the caller's thread (a control request's): waiting for the bitmap's page writes in an
            // I/O completion could wait for the very thread that must complete them.
            bitmap.resize(wanted).join();                                                                // 1.
            long cb = bitmap.chunkBytes();
            bitmap.setNeeded(old / cb, (wanted + cb - 1) / cb);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return array.updateSuperblocks(null, () -> {                                                     // 2.
            array.componentBytesLocked(wanted);
            if (bitmap.pages() == 0) {
                // without a bitmap, md's recovery_cp: a crash before the resync ends redoes it from here
                array.reference.resyncOffset(Math.min(array.reference.resyncOffset(), old / 512));
            }
        }).thenCompose(v -> array.cluster().changeCapacity())                                            // 3.
                .thenRun(() -> {
                    array.capacity(array.personality().arrayBytes(wanted));
                    LOG.log(System.Logger.Level.INFO, "{0}: size {1}K -> {2}K per member; resyncing the new part",
                            array.name(), old >> 10, wanted >> 10);
                    array.sync().recoveryNeeded();                                                       // 4.
                });
    }

    /*
     * Shrinking from old to wanted bytes:
     *   1. requests past the new end are refused here; writes running there finish;
     *   2. what is cut off reads as zeroes (else the old end comes back and the shrink is refused,
     *      unless forced): checked after 1, so no write can slip in behind the check;
     *   3. the superblocks say the new size; METADATA_UPDATED: every node does 1 and cuts its bitmap;
     *   4. our bitmap is cut;
     *   5. CHANGE_CAPACITY.
     */
    private CompletableFuture<Void> shrink(long old, long wanted, boolean force) {
        long arrayOld = array.personality().arrayBytes(old);
        long arrayNew = array.personality().arrayBytes(wanted);
        array.capacity(arrayNew);                                                                        // 1.
        return drained(arrayNew, arrayOld)
                .thenCompose(v -> force ? CompletableFuture.completedFuture(-1L)                        // 2.
                        : firstNonZero(array.firstInSync().device.allocate(1 << 20), arrayNew, arrayOld))
                .thenCompose(at -> {
                    if (at >= 0) {
                        array.capacity(arrayOld);
                        return CompletableFuture.failedFuture(new IllegalStateException(String.format("the array"
                                + " holds data at byte %d, past the new end (%d bytes): nothing was changed; give"
                                + " --force to cut it off", at, arrayNew)));
                    }
                    return array.updateSuperblocks(null, () -> array.componentBytesLocked(wanted))      // 3.
                            .thenCompose(v -> array.bitmap().resize(wanted))                             // 4.
                            .thenCompose(v -> array.cluster().changeCapacity())                          // 5.
                            .thenRun(() -> LOG.log(System.Logger.Level.INFO, "{0}: size {1}K -> {2}K per member",
                                    array.name(), old >> 10, wanted >> 10));
                }).whenComplete((v, e) -> {
                    if (e != null && array.componentBytes() == old) {
                        array.capacity(arrayOld);   // nothing was changed: the old end is served again
                    }
                });
    }

    private CompletableFuture<Void> drained(long from, long to) {
        return array.barrier().drained(from, to - from).orTimeout(DRAIN_SECONDS, TimeUnit.SECONDS)
                .exceptionally(e -> {
                    throw new IllegalStateException("writes past the new end did not finish within " + DRAIN_SECONDS
                            + " s", e);
                });
    }

    /**
     * The first byte in {@code [from, to)} of the array that is not zero, or -1; read a buffer at a time
     * from the first in-sync member (raid1: array and member offsets are the same), since the array
     * itself no longer serves that part.
     */
    private CompletableFuture<Long> firstNonZero(ByteBuffer buf, long from, long to) {
        if (from >= to) {
            return CompletableFuture.completedFuture(-1L);
        }
        int len = (int) Math.min(buf.capacity(), to - from);
        ByteBuffer piece = buf.clear().limit(len);
        ArrayMember source;
        try {
            source = array.firstInSync();
        } catch (IllegalStateException e) {
            return CompletableFuture.failedFuture(e);
        }
        return source.device.read(piece, source.dataOffsetBytes() + from).thenCompose(v -> {
            for (int i = 0; i < len; i++) {
                if (piece.get(i) != 0) {
                    return CompletableFuture.completedFuture(from + i);
                }
            }
            return firstNonZero(buf, from + len, to);
        });
    }

    /**
     * Another node changed the size (its METADATA_UPDATED said so; md's check_sb_changes resize): the
     * bitmap follows; a smaller size is refused to requests at once (writes running past it finish
     * first), a larger one is served only after CHANGE_CAPACITY ({@link #capacityChanged}).
     */
    public CompletableFuture<Void> followRemote(long sectors) {
        long wanted = sectors * 512;
        long old = array.componentBytes();
        if (wanted == old) {
            return DONE;
        }
        LOG.log(System.Logger.Level.INFO, "{0}: size {1}K -> {2}K per member (changed by another node)", array.name(),
                old >> 10, wanted >> 10);
        if (wanted > old) {
            return array.bitmap().resize(wanted).thenRun(() -> {
                synchronized (array) {
                    array.componentBytesLocked(wanted);
                }
            });
        }
        long arrayNew = array.personality().arrayBytes(wanted);
        array.capacity(Math.min(arrayNew, array.size()));
        return drained(arrayNew, array.personality().arrayBytes(old)).thenCompose(v -> {
            synchronized (array) {
                array.componentBytesLocked(wanted);
            }
            return array.bitmap().resize(wanted);
        });
    }

    /** CHANGE_CAPACITY from another node: the size every node now knows is served here too. */
    public void capacityChanged() {
        long capacity = array.personality().arrayBytes(array.componentBytes());
        if (capacity != array.size()) {
            LOG.log(System.Logger.Level.INFO, "{0}: capacity {1} -> {2} bytes", array.name(), array.size(), capacity);
            array.capacity(capacity);
        }
    }
}
