package io.clustermd.md.cluster;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.Lvb;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/**
 * This node's membership in a clustered array: md-cluster's {@code join}/{@code leave} and its
 * receive dispatch ({@code process_recvd_msg}), over one lockspace.
 */
public final class ClusterNode {

    /** What the array does for the cluster layer; all may complete later, none may block. */
    public interface ArrayEvents extends SlotTakeover {
        /** Chunks were taken over into our slot: resync them (when the {@code resync} lock is ours). */
        void resyncNeeded(long chunks);

        /**
         * Node {@code recovererSlot} now holds dead slot {@code deadSlot}'s dirty bits: read the
         * chunks dirty in {@code recovererSlot} from the first member until its resync ends.
         */
        default CompletableFuture<Void> remoteSlotRecovered(int recovererSlot, int deadSlot) {
            return CompletableFuture.completedFuture(null);
        }

        /**
         * RESYNCING from node {@code slot}: its window {@code [loSector, hiSector)} now holds new
         * writes here; complete once this node's writes already running in it have finished (md's
         * {@code quiesce} in {@code process_suspend_info}), so the resyncing node reads its source
         * only after they are on every member.
         */
        default CompletableFuture<Void> remoteWindow(int slot, long loSector, long hiSector) {
            return CompletableFuture.completedFuture(null);
        }

        /** METADATA_UPDATED from node {@code senderSlot}: re-read the superblocks ({@code md_reload_sb}). */
        default CompletableFuture<Void> metadataUpdated(int senderSlot, int raidSlot) {
            return CompletableFuture.completedFuture(null);
        }

        /** CHANGE_CAPACITY: serve the size the superblocks say ({@code set_capacity_and_notify}). */
        default CompletableFuture<Void> capacityChanged() {
            return CompletableFuture.completedFuture(null);
        }

        /**
         * NEWDISK: is a device with this {@code device_uuid} visible here? True (it is opened as a
         * candidate) confirms, false refuses (md's udev rule and {@code --cluster-confirm}).
         */
        default CompletableFuture<Boolean> newDisk(int devNumber, byte[] deviceUuid) {
            return CompletableFuture.completedFuture(false);
        }

        /** REMOVE: the member with descriptor number {@code devNumber} goes. */
        default CompletableFuture<Void> removeDisk(int devNumber) {
            return CompletableFuture.completedFuture(null);
        }

        /** RE_ADD: the former member {@code devNumber} takes writes again, in role {@code slot}. */
        default CompletableFuture<Void> reAddDisk(int devNumber, int slot) {
            return CompletableFuture.completedFuture(null);
        }
    }

    /**
     * Bounds of the cluster's waits.
     *
     * @param sameName how long a join waits for another holder of its node name to go: a daemon
     *                 killed just before is still a member until the lock manager notices its death
     */
    public record Timeouts(Duration step, Duration ack, Duration sameName) {
        /** md's 30 s for every lock wait. */
        public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(30), Duration.ofSeconds(30));

        /** Waits for the node name as long as for any other lock. */
        public Timeouts(Duration step, Duration ack) {
            this(step, ack, step);
        }

        /** The same bounds with {@code sameName} as the node-name wait. */
        public Timeouts withSameName(Duration wait) {
            return new Timeouts(step, ack, wait);
        }
    }

    /** Another daemon runs as this node (holds its {@code node-NAME} lock) and did not go away. */
    public static final class NodeNameTakenException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        NodeNameTakenException(String nodeName, Duration waited) {
            super("another daemon runs as node '" + nodeName + "' in this array (it has held the lock "
                    + ClusterLocks.node(nodeName) + " for the " + waited.toSeconds() + " s waited); every daemon of one"
                    + " array needs its own --node-name: stop the other one, or give this one another name");
        }
    }

    private final Lockspace lockspace;
    private final MessageChannel channel;
    private final RemoteResyncWindows windows;
    private final PeerWatch peers;
    private final ArrayEvents events;
    private final Consumer<String> log;
    private final Timeouts timeouts;
    private SlotClaim slot;
    private LockHandle nameLock;
    /** Slots found free at join: {@link #recoverAbandonedSlots} looks at them once the array runs. */
    private java.util.Set<Integer> freeAtJoin = Set.of();
    private LockHandle noNewDev;
    private LockHandle resync;
    /** Completes once {@code no-new-dev} CR and {@code resync} NL are held (join step 6). */
    private final CompletableFuture<Void> sharedLocksHeld = new CompletableFuture<>();
    /** Held PR (our name in the LVB) from refusing a NEWDISK until the next METADATA_UPDATED. */
    private LockHandle refusal;
    private final int slotCount;
    private String nodeName = "";
    private final Object publishing = new Object();
    private ResyncInfoCodec.Window published = ResyncInfoCodec.Window.NONE;   // guarded by publishing
    private boolean holdingTakenOver;                                          // guarded by publishing
    private CompletableFuture<Void> publishTail = CompletableFuture.completedFuture(null);   // guarded by publishing
    private final java.util.List<CompletableFuture<Void>> joinReads = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Read-balancing suspensions held for a node that announced SLOT_RECOVERING, by its slot. */
    private final Map<Integer, Integer> suspendedFor = new HashMap<>();

    private ClusterNode(Lockspace lockspace, int nodes, ArrayEvents events, Timeouts timeouts, Consumer<String> log) {
        this.lockspace = lockspace;
        this.events = events;
        this.log = log;
        this.timeouts = timeouts;
        this.slotCount = nodes;
        this.windows = new RemoteResyncWindows();
        this.channel = new MessageChannel(lockspace, -1, timeouts.step(), timeouts.ack(), log);
        this.peers = new PeerWatch(lockspace, nodes, channel, windows, events, chunks -> {
            holdsTakenOver();
            events.resyncNeeded(chunks);
        }, timeouts.step(), log);
    }

    /**
     * Joins the array's cluster:
     * <ol start="0">
     *   <li>{@code node-NAME} EX, held for our whole life: one daemon per node name. Held by
     *       another → wait up to {@link Timeouts#sameName} (a daemon killed just before is a member
     *       until the lock manager notices), then refuse;</li>
     *   <li>the message channel: token and message NL, ack CR taken under the token;</li>
     *   <li>token EX, so no other node joins or sends while we look around;</li>
     *   <li>the first free slot, {@code bitmapNNNN} PW|NOQUEUE, held for our whole life;</li>
     *   <li>every other slot probed: live nodes are watched and their resync windows suspended
     *       (md's {@code gather_all_resync_info}); free ones noted;</li>
     *   <li>NODE_JOINED, so every node watches our slot; token released;</li>
     *   <li>{@code no-new-dev} CR and {@code resync} NL;</li>
     *   <li>messages are processed from the moment ack CR is held (right after step 1, as md
     *       starts its receive thread first): a node sending meanwhile holds the token and waits
     *       for our acknowledgement, so a join that waited for the token before receiving would
     *       wait for itself.</li>
     * </ol>
     * Nothing is written to a member before step 3 holds the slot. Free slots left dirty by a node
     * that died alone are taken over by {@link #recoverAbandonedSlots}, once the array runs.
     *
     * @throws SlotClaim.SlotsFullException (as the cause) if every slot is taken
     */
    public static CompletableFuture<ClusterNode> join(Lockspace lockspace, int nodes, String nodeName,
                                                      ArrayEvents events, Timeouts timeouts, Consumer<String> log) {
        ClusterNode node = new ClusterNode(lockspace, nodes, Objects.requireNonNull(events, "events"), timeouts, log);
        node.nodeName = nodeName;
        return node.holdName(nodeName)                                                        // 0.
                .thenCompose(v -> node.channel.open())                                        // 1.
                .thenCompose(v -> {
                    // Holding ack CR, we must process messages from now on (md starts its receive
                    // thread before it takes ack): a node sending now waits for our acknowledgement
                    // while it holds the token we are about to ask for.
                    node.channel.startReceiving(node::dispatch);                              // 7.
                    return node.channel.acquireToken();                                       // 2.
                })
                .thenCompose(hold -> SlotClaim.claimFirstFree(lockspace, nodes, timeouts.step())   // 3.
                        .thenCompose(claim -> {
                            node.slot = claim;
                            node.channel.bindSlot(claim.slot());
                            node.peers.ownSlot(claim.slot());
                            return node.peers.probeAll();                                     // 4.
                        })
                        .thenCompose(free -> hold.send(ClusterMessage.of(MessageType.NODE_JOINED, 0, 0, 0))   // 5.
                                .thenApply(m -> free))
                        .handle((free, e) -> hold.release().handle((v, releaseError) -> {
                            if (e != null) {
                                throw new CompletionException(MessageChannel.unwrap(e));
                            }
                            return free;
                        }))
                        .thenCompose(f -> f))
                .thenCompose(free -> node.holdSharedLocks().thenApply(v -> free))             // 6.
                .thenApply(free -> {
                    node.freeAtJoin = Set.copyOf(free);
                    for (int holder : node.peers.holdersAtJoin()) {
                        // it missed nothing of ours, but we missed its SLOT_RECOVERED
                        log.accept("cluster: node in slot " + holder + " holds a dead node's chunks it has not"
                                + " resynced yet; they read from the first member until its resync ends");
                        node.joinReads.add(events.remoteSlotRecovered(holder, holder));
                    }
                    log.accept("cluster: joined as slot " + node.slot.slot() + " of " + nodes + (node.slot.adopted()
                            ? " (adopted from a daemon of this node that crashed: its dirty chunks are resynced)" : ""));
                    return node;
                });
    }

    /**
     * After join, once the array can take bits over: the slots that were free at join may hold the
     * dirty bits of a node that died with nobody there to recover it (md's {@code load_bitmaps}).
     * Each is taken (PW|NOQUEUE: a node joining it meanwhile keeps it) and its bits moved into ours.
     */
    public CompletableFuture<Void> recoverAbandonedSlots() {
        return peers.takeOverIfDirty(freeAtJoin);
    }

    /** Step 0 of {@link #join}: NOQUEUE first, so a wait is logged with what it waits for. */
    private CompletableFuture<Void> holdName(String nodeName) {
        nameLock = lockspace.newLock(ClusterLocks.node(nodeName));
        return nameLock.lock(LockMode.EX, timeouts.step(), LockFlag.NOQUEUE).thenCompose(r -> {
            if (r.granted()) {
                return done();
            }
            if (r.status() != LockStatus.NOT_GRANTED) {
                throw new CompletionException(new ClusterWaitException("taking lock " + ClusterLocks.node(nodeName)
                        + ": " + r.status()));
            }
            log.accept("cluster: another daemon holds node name '" + nodeName + "' (one killed just before is still a"
                    + " member until its death is noticed); waiting up to " + timeouts.sameName().toSeconds()
                    + " s for it to go");
            return nameLock.lock(LockMode.EX, timeouts.sameName()).thenApply(q -> {
                if (q.granted()) {
                    return null;
                }
                if (q.status() == LockStatus.TIMED_OUT) {
                    throw new CompletionException(new NodeNameTakenException(nodeName, timeouts.sameName()));
                }
                throw new CompletionException(new ClusterWaitException("waiting for lock "
                        + ClusterLocks.node(nodeName) + ": " + q.status()));
            });
        });
    }

    private CompletableFuture<Void> holdSharedLocks() {
        noNewDev = lockspace.newLock(ClusterLocks.NO_NEW_DEV);
        resync = lockspace.newLock(ClusterLocks.RESYNC);
        CompletableFuture<Void> held = noNewDev.lock(LockMode.CR, timeouts.step())
                .thenCompose(r -> resync.lock(LockMode.NL, timeouts.step()))
                .thenApply(r -> null);
        held.whenComplete((v, e) -> {
            if (e == null) {
                sharedLocksHeld.complete(null);
            } else {
                sharedLocksHeld.completeExceptionally(e);
            }
        });
        return held;
    }

    /** md's {@code process_recvd_msg}. */
    private CompletableFuture<Void> dispatch(ClusterMessage m) {
        switch (m.type()) {
            case NODE_JOINED -> {
                peers.watch(m.senderSlot());
                return done();
            }
            case RESYNCING -> {
                ResyncInfoCodec.Window w = new ResyncInfoCodec.Window(m.low(), m.high());
                windows.update(m.senderSlot(), w);
                return w.active() ? events.remoteWindow(m.senderSlot(), w.lo(), w.hi()) : done();
            }
            case SLOT_RECOVERING -> {
                synchronized (suspendedFor) {
                    suspendedFor.merge(m.senderSlot(), 1, Integer::sum);
                }
                windows.suspendReadBalancing();
                windows.update(m.raidSlot(), ResyncInfoCodec.Window.NONE);
                return done();
            }
            case SLOT_RECOVERED -> {
                return events.remoteSlotRecovered(m.senderSlot(), m.raidSlot()).thenRun(() -> {
                    // The recoverer's own suspension ends, and so does any held for the dead node
                    // (it may have died between announcing a recovery and finishing it).
                    resumeFor(m.senderSlot());
                    resumeFor(m.raidSlot());
                });
            }
            case METADATA_UPDATED -> {
                return events.metadataUpdated(m.senderSlot(), m.raidSlot()).thenCompose(v -> rearmNewDisk());
            }
            case CHANGE_CAPACITY -> {
                return events.capacityChanged();
            }
            case NEWDISK -> {
                return sharedLocksHeld.thenCompose(v -> events.newDisk(m.raidSlot(), m.deviceUuid()))
                        .thenCompose(found -> found ? confirmNewDisk() : refuseNewDisk(m));
            }
            case REMOVE -> {
                return events.removeDisk(m.raidSlot());
            }
            case RE_ADD -> {
                return events.reAddDisk(m.raidSlot(), (int) m.low());
            }
            default -> {
                log.accept("cluster: " + m + " is not handled by this version; acknowledged");
                return done();
            }
        }
    }

    /*
     * A new member, on a receiver (md's new_disk_ack):
     *   confirm: no-new-dev CR->NL, so the initiator's EX can be granted;
     *   refuse:  no-new-dev stays CR (the initiator's EX|NOQUEUE fails), and our refusal lock PR with
     *            our name in its LVB (EX, LVB, ->PR publishes it) says who refused.
     * Both end at the next METADATA_UPDATED ({@link #rearmNewDisk}).
     */
    private CompletableFuture<Void> confirmNewDisk() {
        return noNewDev.lock(LockMode.NL, timeouts.step(), LockFlag.CONVERT).thenApply(r -> {
            if (!r.granted()) {
                throw new CompletionException(new ClusterWaitException("confirming a new member: no-new-dev NL: "
                        + r.status()));
            }
            return null;
        });
    }

    private CompletableFuture<Void> refuseNewDisk(ClusterMessage m) {
        log.accept("cluster: refusing " + m + ": the device is not visible on this node");
        LockHandle h = lockspace.newLock(ClusterLocks.newDiskRefusal(slot()));
        synchronized (this) {
            refusal = h;
        }
        byte[] lvb = new byte[Lvb.LENGTH];
        byte[] name = nodeName.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        System.arraycopy(name, 0, lvb, 0, Math.min(name.length, lvb.length));
        return h.lock(LockMode.EX, timeouts.step()).thenCompose(r -> {
            h.setLvb(lvb);
            return h.lock(LockMode.PR, timeouts.step(), LockFlag.CONVERT, LockFlag.VALBLK);
        }).handle((r, e) -> null);  // the refusal stands with no-new-dev CR alone if this lock fails
    }

    /** After METADATA_UPDATED: no-new-dev CR again (md's process_metadata_update), the refusal lock gone. */
    private CompletableFuture<Void> rearmNewDisk() {
        LockHandle h;
        synchronized (this) {
            h = refusal;
            refusal = null;
        }
        CompletableFuture<?> gone = h == null ? done() : h.unlock().handle((r, e) -> null);
        return gone.thenCompose(v -> noNewDev == null || noNewDev.grantedMode() != LockMode.NL ? done()
                : noNewDev.lock(LockMode.CR, timeouts.step(), LockFlag.CONVERT).thenApply(r -> null));
    }

    /**
     * On the node adding a member, after every node processed its NEWDISK (md's {@code add_new_disk}
     * step 3): {@code no-new-dev} CR->EX|NOQUEUE, granted only if every other node confirmed; then
     * back to CR. Completes with an empty list when confirmed, else with the nodes that refused
     * ("node NAME (slot S)", read from their refusal locks), or a note that some node did not answer.
     */
    public CompletableFuture<java.util.List<String>> newDiskConfirmations() {
        return noNewDev.lock(LockMode.EX, timeouts.step(), LockFlag.CONVERT, LockFlag.NOQUEUE).thenCompose(r -> {
            if (r.granted()) {
                return noNewDev.lock(LockMode.CR, timeouts.step(), LockFlag.CONVERT)
                        .thenApply(x -> java.util.List.<String>of());
            }
            return refusers();
        });
    }

    /**
     * Which slots hold their refusal lock: EX|NOQUEUE not granted means a holder; then CR|NOQUEUE
     * (compatible with its PR) reads the name it left in the LVB.
     */
    private CompletableFuture<java.util.List<String>> refusers() {
        CompletableFuture<java.util.List<String>> found = CompletableFuture.completedFuture(new java.util.ArrayList<>());
        for (int s = 0; s < slotCount; s++) {
            if (s == slot()) {
                continue;
            }
            int other = s;
            found = found.thenCompose(list -> {
                LockHandle probe = lockspace.newLock(ClusterLocks.newDiskRefusal(other));
                return probe.lock(LockMode.EX, timeouts.step(), LockFlag.NOQUEUE).thenCompose(r -> {
                    if (r.granted()) {
                        return probe.unlock().handle((x, e) -> list);
                    }
                    return probe.lock(LockMode.CR, timeouts.step(), LockFlag.NOQUEUE, LockFlag.VALBLK)
                            .thenCompose(c -> {
                                String name = c.granted() && c.lvb() != null && !c.valNotValid() ? text(c.lvb()) : "";
                                list.add(name.isEmpty() ? "the node in slot " + other : "node " + name + " (slot "
                                        + other + ")");
                                return (c.granted() ? probe.unlock() : done()).handle((x, e) -> list);
                            });
                }).exceptionally(e -> list);
            });
        }
        return found.thenApply(list -> list.isEmpty()
                ? java.util.List.of("a node that did not answer (it may be joining or dying; try again)") : list);
    }

    private static String text(byte[] lvb) {
        int n = 0;
        while (n < lvb.length && lvb[n] != 0) {
            n++;
        }
        return new String(lvb, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }

    private void resumeFor(int senderSlot) {
        int n;
        synchronized (suspendedFor) {
            Integer held = suspendedFor.remove(senderSlot);
            n = held == null ? 0 : held;
        }
        for (int i = 0; i < n; i++) {
            windows.resumeReadBalancing();
        }
    }

    private static CompletableFuture<Void> done() {
        return CompletableFuture.completedFuture(null);
    }

    /** Slots of the clustered bitmap ({@code nodes}). */
    public int slotCount() {
        return slotCount;
    }

    /** This node's slot (0-based). */
    public int slot() {
        return slot.slot();
    }

    /** The message channel (for superblock updates and resync announcements). */
    public MessageChannel channel() {
        return channel;
    }

    /** Other nodes' resync windows and read-balancing state. */
    public RemoteResyncWindows windows() {
        return windows;
    }

    /** The slots of the live nodes we watch. */
    public Set<Integer> peerSlots() {
        return peers.watchedSlots();
    }

    /** Slots being recovered by this node. */
    public Set<Integer> recoveringSlots() {
        return peers.recoveringSlots();
    }

    /** The {@code resync} lock, held NL until this node resyncs (then EX). */
    LockHandle resyncLock() {
        return resync;
    }

    /**
     * Publishes our resync window in our slot lock's LVB (read by nodes that join later), with
     * whether we hold taken-over chunks not resynced yet; a window's end (0,0) ends that too, as it
     * does for the nodes that heard SLOT_RECOVERED. One conversion of the lock at a time.
     */
    public CompletableFuture<Void> publishWindow(ResyncInfoCodec.Window window) {
        synchronized (publishing) {
            published = window;
            if (!window.active()) {
                holdingTakenOver = false;
            }
            return publishLocked();
        }
    }

    /** We took a dead node's dirty chunks over: a node that joins from now on must hear of it. */
    private void holdsTakenOver() {
        synchronized (publishing) {
            holdingTakenOver = true;
            publishLocked();
        }
    }

    private CompletableFuture<Void> publishLocked() {
        ResyncInfoCodec.Window w = published;
        boolean holding = holdingTakenOver;
        CompletableFuture<Void> next = publishTail.handle((v, e) -> null)
                .thenCompose(v -> slot.publishWindow(w, holding)).thenApply(r -> null);
        publishTail = next;
        return next;
    }

    /** Completes once what this node learnt at its join about other nodes' taken-over chunks is in place. */
    public CompletableFuture<Void> joinReadsSettled() {
        return CompletableFuture.allOf(joinReads.toArray(CompletableFuture[]::new));
    }

    /**
     * Leaves cleanly (md's {@code leave}): stops watching and receiving, releases our slot with
     * the LVB saying so (the nodes watching it then have nothing to recover), and closes the
     * lockspace. The caller has flushed the bitmap first.
     */
    public CompletableFuture<Void> leave() {
        peers.close();
        channel.close();
        CompletableFuture<io.clustermd.dlm.LockResult> released;
        try {
            released = slot.release();
        } catch (RuntimeException e) {
            released = CompletableFuture.failedFuture(e);   // a fenced lockspace refuses at once
        }
        return released.handle((r, e) -> {
            if (e != null) {
                log.accept("cluster: releasing slot " + slot.slot() + ": " + MessageChannel.unwrap(e).getMessage());
            }
            lockspace.close();
            return null;
        });
    }
}
