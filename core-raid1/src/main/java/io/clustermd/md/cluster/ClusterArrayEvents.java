package io.clustermd.md.cluster;

import io.clustermd.md.array.BitmapSlots;
import io.clustermd.md.array.RemoteMemberChanges;

import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The array's side of {@link ClusterNode.ArrayEvents}, on {@link BitmapSlots}. The node joins
 * before the array exists (the slot decides which bitmap the array loads), so the events are
 * bound to the array once it is open: a takeover or a superblock reload asked for before that
 * waits for it; a remote resync window before that has no write of ours to wait for.
 */
public final class ClusterArrayEvents implements ClusterNode.ArrayEvents {

    private final CompletableFuture<BitmapSlots> array = new CompletableFuture<>();
    private final Consumer<String> log;
    private volatile RemoteResyncWindows windows;
    private volatile RemoteMemberChanges members;

    public ClusterArrayEvents(Consumer<String> log) {
        this.log = log;
    }

    /** Connects the events to the opened array and the node's view of the other nodes' windows. */
    public void bind(BitmapSlots slots, RemoteMemberChanges memberChanges, RemoteResyncWindows remoteWindows) {
        this.windows = remoteWindows;
        this.members = memberChanges;
        array.complete(slots);
    }

    /** The array is not coming (start failed): pending takeovers fail rather than wait forever. */
    public void abandon(Throwable why) {
        array.completeExceptionally(why);
    }

    @Override
    public CompletableFuture<Long> takeOver(int slot) {
        return array.thenCompose(a -> a.takeOver(slot));
    }

    @Override
    public CompletableFuture<Boolean> slotDirty(int slot) {
        return array.thenCompose(a -> a.slotBits(slot)).thenApply(bits -> !bits.isEmpty());
    }

    @Override
    public void resyncNeeded(long chunks) {
        // BitmapSlots.takeOver has asked the sync thread already; the resync waits for the lock.
        log.accept("cluster: " + chunks + " chunk(s) to resync once the 'resync' lock is ours");
    }

    @Override
    public CompletableFuture<Void> remoteSlotRecovered(int recovererSlot, int deadSlot) {
        return array.thenCompose(a -> a.slotBits(recovererSlot).thenAccept(bits -> {
            windows.takenOver(recovererSlot, bits, a.chunkBytes());
            log.accept("cluster: node in slot " + recovererSlot + " holds slot " + deadSlot + "'s "
                    + bits.cardinality() + " dirty chunk(s) now; they read from the first member until its resync ends");
        }));
    }

    @Override
    public CompletableFuture<Void> remoteWindow(int slot, long loSector, long hiSector) {
        BitmapSlots a = array.getNow(null);
        if (a == null) {
            return CompletableFuture.completedFuture(null);
        }
        return a.writesDrained(loSector * 512, (hiSector - loSector) * 512);
    }

    /**
     * METADATA_UPDATED: what the sender changed applies here (md's check_sb_changes). A size that
     * grew is new area the sender resyncs: its chunks (NEEDED in the sender's slot) read from the
     * first member here until the sender's resync ends, as a dead node's taken-over chunks do.
     */
    @Override
    public CompletableFuture<Void> metadataUpdated(int senderSlot, int raidSlot) {
        BitmapSlots a = array.getNow(null);
        if (a == null) {
            return CompletableFuture.completedFuture(null);
        }
        long before = a.componentBytes();
        return members.reload().thenCompose(events -> a.componentBytes() <= before
                ? CompletableFuture.<Void>completedFuture(null)
                : a.slotBits(senderSlot).thenAccept(bits -> windows.takenOver(senderSlot, bits, a.chunkBytes())));
    }

    @Override
    public CompletableFuture<Void> capacityChanged() {
        BitmapSlots a = array.getNow(null);
        if (a != null) {
            a.capacityChanged();
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Boolean> newDisk(int devNumber, byte[] deviceUuid) {
        return array.thenCompose(a -> members.newDiskCandidate(devNumber, deviceUuid));
    }

    @Override
    public CompletableFuture<Void> removeDisk(int devNumber) {
        return array.getNow(null) == null ? CompletableFuture.completedFuture(null) : members.removed(devNumber);
    }

    @Override
    public CompletableFuture<Void> reAddDisk(int devNumber, int slot) {
        return array.getNow(null) == null ? CompletableFuture.completedFuture(null) : members.reAdded(devNumber, slot);
    }

    /** Our events catch up with what another node wrote (before our own superblock update too). */
    public CompletableFuture<Void> reloadSuperblock() {
        BitmapSlots a = array.getNow(null);
        if (a == null) {
            return CompletableFuture.completedFuture(null);
        }
        return a.reloadSuperblock().thenApply(events -> null);
    }
}
