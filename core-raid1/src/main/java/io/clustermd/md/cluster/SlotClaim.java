package io.clustermd.md.cluster;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * This node's bitmap slot: the {@code bitmapNNNN} lock held PW for the node's whole membership
 * (md's own-slot lock in {@code join}). Whoever holds it owns that slot's bitmap on every member;
 * the LVB carries the node's resync window ({@link ResyncInfoCodec}).
 *
 * <p>md gets the slot from the DLM's node slot ({@code recover_done}); a userspace lockspace has
 * no such number, so the node takes the first slot whose lock it can get at once (PW|NOQUEUE): a
 * slot whose lock is held belongs to a live node, or to a dead one not yet recovered, and is skipped.
 *
 * <p>With the kernel DLM the slot lock is PERSISTENT (md's own-slot lock lives in the kernel and
 * dies only with the node). A daemon that crashes leaves it as an orphan of its node, so no other
 * node recovers the slot while the crashed daemon's node is still a member: its last writes may
 * still be in the node's queues. The orphan goes when the node is fenced and removed from the
 * lockspace (then another node recovers the slot), or a restarted daemon on the same node adopts it
 * (PERSISTENT|ORPHAN) and resyncs its own dirty bits.
 */
public final class SlotClaim {

    private final LockHandle lock;
    private final int slot;
    private final ResyncInfoCodec.Window previousWindow;
    private final boolean adopted;
    private final boolean persistent;

    private SlotClaim(LockHandle lock, int slot, ResyncInfoCodec.Window previousWindow, boolean adopted,
                      boolean persistent) {
        this.persistent = persistent;
        this.lock = lock;
        this.slot = slot;
        this.previousWindow = previousWindow;
        this.adopted = adopted;
    }

    /**
     * Takes this node's slot: first an orphaned slot lock left by a crashed daemon of this node
     * (lock managers with PERSISTENT locks only), else the first free slot of {@code nodes}: for
     * slot 0, 1, … {@code bitmapNNNN} PW with NOQUEUE and VALBLK (and PERSISTENT where supported);
     * the first grant wins.
     *
     * @return the claim; fails with {@link SlotsFullException} if every slot is held
     */
    public static CompletableFuture<SlotClaim> claimFirstFree(Lockspace lockspace, int nodes, Duration timeout) {
        if (nodes < 1) {
            throw new IllegalArgumentException("an array has at least one node slot, got " + nodes);
        }
        if (!persistent(lockspace)) {
            return tryFrom(lockspace, 0, nodes, timeout);
        }
        return adoptFrom(lockspace, 0, nodes).thenCompose(adopted -> adopted != null
                ? CompletableFuture.completedFuture(adopted)
                : tryFrom(lockspace, 0, nodes, timeout));
    }

    /** Whether slot locks are held PERSISTENT: the lock manager keeps a crashed process's lock as an orphan. */
    static boolean persistent(Lockspace lockspace) {
        return lockspace.supportedFlags().containsAll(List.of(LockFlag.PERSISTENT, LockFlag.ORPHAN));
    }

    /**
     * Adopts the first orphaned slot lock of this node (PW|PERSISTENT|ORPHAN; the kernel answers at
     * once: granted, or no such orphan). The previous window is our own crashed daemon's: nothing to
     * suspend for it.
     */
    private static CompletableFuture<SlotClaim> adoptFrom(Lockspace lockspace, int slot, int nodes) {
        if (slot >= nodes) {
            return CompletableFuture.completedFuture(null);
        }
        LockHandle h = lockspace.newLock(ClusterLocks.bitmap(slot));
        return h.lock(LockMode.PW, LockFlag.PERSISTENT, LockFlag.ORPHAN)
                .handle((r, e) -> e == null && r.granted())
                .thenCompose(adopted -> adopted
                        ? CompletableFuture.completedFuture(new SlotClaim(h, slot, ResyncInfoCodec.Window.NONE, true, true))
                        : adoptFrom(lockspace, slot + 1, nodes));
    }

    private static CompletableFuture<SlotClaim> tryFrom(Lockspace lockspace, int slot, int nodes, Duration timeout) {
        if (slot >= nodes) {
            return CompletableFuture.failedFuture(new SlotsFullException(nodes));
        }
        LockHandle h = lockspace.newLock(ClusterLocks.bitmap(slot));
        LockFlag[] flags = persistent(lockspace)
                ? new LockFlag[] {LockFlag.NOQUEUE, LockFlag.VALBLK, LockFlag.PERSISTENT}
                : new LockFlag[] {LockFlag.NOQUEUE, LockFlag.VALBLK};
        return h.lock(LockMode.PW, timeout, flags).thenCompose(r -> {
            if (r.granted()) {
                ResyncInfoCodec.Window previous = r.valNotValid() ? ResyncInfoCodec.Window.NONE
                        : ResyncInfoCodec.decode(r.lvb());
                return CompletableFuture.completedFuture(new SlotClaim(h, slot, previous, false, persistent(lockspace)));
            }
            if (r.status() == LockStatus.NOT_GRANTED) {
                return tryFrom(lockspace, slot + 1, nodes, timeout);
            }
            throw new CompletionException(new ClusterWaitException("claiming bitmap slot " + slot + ": " + r.status()
                    + (r.cause() == null ? "" : " (" + r.cause().getMessage() + ")")));
        });
    }

    /** The slot, 0-based (md's {@code slot_number - 1}). */
    public int slot() {
        return slot;
    }

    /** Whether the slot was taken over from a crashed daemon of this node (an adopted orphan lock). */
    public boolean adopted() {
        return adopted;
    }

    /** The window the slot's previous owner last published (it died resyncing), or none. */
    public ResyncInfoCodec.Window previousWindow() {
        return previousWindow;
    }

    /**
     * Publishes this node's resync window in the slot lock's LVB (md's {@code add_resync_info} and
     * the PW→PW re-request that writes it), so a node that joins later suspends it.
     */
    public CompletableFuture<LockResult> publishWindow(ResyncInfoCodec.Window window, boolean holdsTakenOver) {
        lock.setLvb(ResyncInfoCodec.encode(window, holdsTakenOver));
        // The DLM keeps a lock's flags from its latest request: a conversion without PERSISTENT
        // would make the lock an ordinary one again, released when the process dies.
        return persistent ? lock.convert(LockMode.PW, LockFlag.VALBLK, LockFlag.PERSISTENT)
                : lock.convert(LockMode.PW, LockFlag.VALBLK);
    }

    /**
     * Gives the slot up after a clean stop (md's {@code leave}): the LVB says so, so the nodes
     * watching this slot know there is nothing to recover; a later node may take it.
     */
    public CompletableFuture<LockResult> release() {
        lock.setLvb(ResyncInfoCodec.encodeLeftCleanly());
        return lock.unlock(LockFlag.VALBLK);
    }

    /** Every node slot is held by a live node. */
    public static final class SlotsFullException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        SlotsFullException(int nodes) {
            super("all " + nodes + " node slots of the array are held by running nodes; stop a node, or give the array "
                    + "more slots (it was created with --nodes=" + nodes + ")");
        }
    }
}
