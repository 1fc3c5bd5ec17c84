package io.clustermd.md.cluster;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * Notices other nodes' deaths and takes over their bitmap slots: md-cluster's
 * {@code recover_slot} → {@code recover_bitmaps}, driven by locks instead of the kernel DLM's
 * recovery callbacks (which userspace does not get).
 *
 * <p>For every slot held by a live node this node keeps a queued PW request on that slot's
 * {@code bitmapNNNN} lock. The owner holds it PW for its whole life, so the request is granted only
 * when the owner's lock is gone: a clean leave, or its death after the lock manager fenced it.
 * Every survivor has such a request; the lock manager grants them one at a time. The first to get
 * it takes the dirty bits over; the next ones find the slot clean. On a grant:
 * <ol>
 *   <li>every read on this node goes to the first in-sync member (md's SUSPEND_READ_BALANCING),
 *       and the dead node's resync window stops blocking writes;</li>
 *   <li>SLOT_RECOVERING tells the other nodes to read from the first member too;</li>
 *   <li>the array makes the slot's dirty bits durable in our own slot, then clears the slot
 *       ({@link SlotTakeover}) — no moment where the bits are on no slot;</li>
 *   <li>SLOT_RECOVERED tells the others which slot now holds those chunks; the lock is released
 *       and read balancing resumes (the taken-over chunks read from one member until resynced);</li>
 *   <li>the array resyncs the chunks ({@code resyncNeeded}).</li>
 * </ol>
 */
public final class PeerWatch {

    /** How long one queued watch request lives before it is renewed (a lock request needs a deadline). */
    static final Duration WATCH_RENEWAL = Duration.ofHours(1);

    private final Lockspace lockspace;
    private final int nodes;
    private final MessageChannel channel;
    private final RemoteResyncWindows windows;
    private final SlotTakeover takeover;
    private final LongConsumer resyncNeeded;
    private final Consumer<String> log;
    private final Duration stepTimeout;

    private final Map<Integer, LockHandle> watching = new TreeMap<>();
    private final Set<Integer> recovering = new TreeSet<>();
    private int ownSlot = -1;
    private boolean closed;

    /**
     * @param resyncNeeded told the number of chunks taken over, once they are in our slot
     */
    public PeerWatch(Lockspace lockspace, int nodes, MessageChannel channel, RemoteResyncWindows windows,
                     SlotTakeover takeover, LongConsumer resyncNeeded, Duration stepTimeout, Consumer<String> log) {
        this.lockspace = lockspace;
        this.nodes = nodes;
        this.channel = channel;
        this.windows = windows;
        this.takeover = takeover;
        this.resyncNeeded = resyncNeeded;
        this.stepTimeout = stepTimeout;
        this.log = log;
    }

    /** Sets our own slot (never watched). */
    synchronized void ownSlot(int slot) {
        ownSlot = slot;
    }

    /**
     * At join (with the token held, so no node joins meanwhile): every other slot is probed with
     * PW|NOQUEUE. Held → a live node (or a dead one not yet fenced): watch it and read its resync
     * window (NL→CR, a conversion, so it is granted next to the queued watchers). Free → released
     * at once and returned, for {@link #takeOverIfDirty} once the token is given back.
     */
    /** Slots whose owner said at our join that it holds taken-over chunks not yet resynced. */
    private final Set<Integer> holdersAtJoin = new TreeSet<>();

    /** The live nodes that, at our join, held a dead node's chunks they had not resynced yet. */
    Set<Integer> holdersAtJoin() {
        synchronized (holdersAtJoin) {
            return Set.copyOf(holdersAtJoin);
        }
    }

    CompletableFuture<Set<Integer>> probeAll() {
        Set<Integer> free = new TreeSet<>();
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (int s = 0; s < nodes; s++) {
            if (s == ownSlot) {
                continue;
            }
            int slot = s;
            chain = chain.thenCompose(v -> probe(slot, free));
        }
        return chain.thenApply(v -> free);
    }

    private CompletableFuture<Void> probe(int slot, Set<Integer> free) {
        LockHandle h = lockspace.newLock(ClusterLocks.bitmap(slot));
        return h.lock(LockMode.PW, stepTimeout, LockFlag.NOQUEUE).thenCompose(r -> {
            if (r.granted()) {
                synchronized (free) {
                    free.add(slot);
                }
                return h.unlock().thenApply(u -> null);
            }
            if (r.status() != LockStatus.NOT_GRANTED) {
                throw new CompletionException(new ClusterWaitException("probing bitmap slot " + slot + ": " + r));
            }
            watch(slot);
            return readWindow(slot);
        });
    }

    /** md's {@code read_resync_info}: the live node's current window, from its slot lock's LVB. */
    private CompletableFuture<Void> readWindow(int slot) {
        LockHandle reader = lockspace.newLock(ClusterLocks.bitmap(slot));
        return reader.lock(LockMode.NL, stepTimeout, LockFlag.EXPEDITE, LockFlag.VALBLK)
                .thenCompose(r -> reader.lock(LockMode.CR, stepTimeout, LockFlag.CONVERT, LockFlag.VALBLK))
                .thenCompose(r -> {
                    if (r.granted() && !r.valNotValid()) {
                        ResyncInfoCodec.Window w = ResyncInfoCodec.decode(r.lvb());
                        if (ResyncInfoCodec.holdsTakenOver(r.lvb())) {
                            synchronized (holdersAtJoin) {
                                holdersAtJoin.add(slot);
                            }
                        }
                        if (w.active()) {
                            log.accept("cluster: node in slot " + slot + " is resyncing sectors [" + w.lo() + ", "
                                    + w.hi() + "); writes there wait");
                            windows.update(slot, w);
                        }
                    }
                    return reader.unlock();
                })
                .thenApply(r -> null);
    }

    /** A node announced it took {@code slot} (NODE_JOINED): watch it from now on. */
    public void watch(int slot) {
        LockHandle h;
        synchronized (this) {
            if (closed || slot == ownSlot || watching.containsKey(slot) || recovering.contains(slot)) {
                return;
            }
            h = lockspace.newLock(ClusterLocks.bitmap(slot));
            watching.put(slot, h);
        }
        queueWatch(slot, h);
    }

    private void queueWatch(int slot, LockHandle h) {
        CompletableFuture<LockResult> f;
        try {
            f = h.lock(LockMode.PW, WATCH_RENEWAL, LockFlag.VALBLK);
        } catch (RuntimeException e) {
            log.accept("cluster: cannot watch slot " + slot + ": " + e.getMessage());
            forget(slot, h);
            return;
        }
        f.whenComplete((r, e) -> {
            if (e != null || r.status() == LockStatus.FAILED || r.status() == LockStatus.CANCELLED || isClosed()) {
                forget(slot, h);
                return;
            }
            if (r.status() == LockStatus.TIMED_OUT) {
                queueWatch(slot, h);   // still alive after an hour: renew the request
                return;
            }
            if (r.granted()) {
                synchronized (this) {
                    watching.remove(slot);
                    recovering.add(slot);
                }
                boolean left = !r.valNotValid() && ResyncInfoCodec.leftCleanly(r.lvb());
                log.accept(left ? "cluster: node in slot " + slot + " left cleanly"
                        : "cluster: node in slot " + slot + " is gone; recovering its bitmap");
                recover(slot, h, !left);
            }
        });
    }

    /**
     * At join, after the token is released: a slot found free may hold the bits of a node that died
     * before anyone was there to recover it. 1. Read its bits without the lock: clean → nothing to
     * do, and the lock is never touched (so a node joining meanwhile, which claims slots with
     * NOQUEUE, never finds a free slot held by us and skips it). 2. Dirty → take it (PW|NOQUEUE: a
     * node joining it now wins) and recover it.
     */
    CompletableFuture<Void> takeOverIfDirty(Set<Integer> freeSlots) {
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (int slot : freeSlots) {
            chain = chain.thenCompose(v -> takeover.slotDirty(slot).exceptionally(e -> true)).thenCompose(dirty -> {  // 1.
                if (!dirty) {
                    return CompletableFuture.completedFuture(null);
                }
                LockHandle h = lockspace.newLock(ClusterLocks.bitmap(slot));                     // 2.
                return h.lock(LockMode.PW, stepTimeout, LockFlag.NOQUEUE, LockFlag.VALBLK).thenCompose(r -> {
                    if (!r.granted()) {
                        return CompletableFuture.completedFuture(null);   // a node joined it meanwhile
                    }
                    synchronized (this) {
                        recovering.add(slot);
                    }
                    return recover(slot, h, false);
                });
            });
        }
        return chain;
    }

    /*
     * The takeover, steps 1-5 of the class comment. A slot left cleanly (or found free at join)
     * skips the suspension and SLOT_RECOVERING: its owner is not writing, so no read can flip.
     * A dead node's slot that reads clean was taken over by a survivor granted the lock before us
     * (its bits are in that survivor's slot, which announced SLOT_RECOVERING and SLOT_RECOVERED):
     * nothing to announce, so our messages do not hold the token while that survivor's resync
     * waits for it to announce its first window.
     */
    private CompletableFuture<Void> recover(int slot, LockHandle slotLock, boolean died) {
        if (!died) {
            return takeOverSlot(slot, slotLock, false);
        }
        return takeover.slotDirty(slot).exceptionally(e -> true).thenCompose(dirty -> {
            if (dirty) {
                return takeOverSlot(slot, slotLock, true);
            }
            windows.update(slot, ResyncInfoCodec.Window.NONE);
            slotLock.unlock();
            synchronized (this) {
                recovering.remove(slot);
            }
            log.accept("cluster: slot " + slot + " had no dirty chunks left (another node took them over first)");
            return CompletableFuture.<Void>completedFuture(null);
        });
    }

    private CompletableFuture<Void> takeOverSlot(int slot, LockHandle slotLock, boolean died) {
        if (died) {
            windows.suspendReadBalancing();                                  // 1.
        }
        windows.update(slot, ResyncInfoCodec.Window.NONE);
        CompletableFuture<Long> result = (died ? announce(MessageType.SLOT_RECOVERING, slot)           // 2.
                : CompletableFuture.<Void>completedFuture(null))
                .thenCompose(v -> takeover.takeOver(slot))                   // 3.
                .thenCompose(chunks -> chunks == 0 && !died ? CompletableFuture.completedFuture(chunks)
                        : announce(MessageType.SLOT_RECOVERED, slot).thenApply(v -> chunks));   // 4.
        return result.handle((chunks, e) -> {
            if (e != null) {
                // Keep the slot's lock (no other node half-recovers it either) and keep reading from
                // one member; status lists the slot as recovering until an operator restarts us.
                log.accept("cluster: recovering slot " + slot + " failed: " + MessageChannel.unwrap(e).getMessage()
                        + "; reads stay on the first member and the slot stays locked; restart this node to retry");
                return null;
            }
            slotLock.unlock();                                                // 4.
            if (died) {
                windows.resumeReadBalancing();
            }
            synchronized (this) {
                recovering.remove(slot);
            }
            if (chunks > 0) {
                log.accept("cluster: took over " + chunks + " dirty chunk(s) of slot " + slot + "; resync follows");
            } else if (died) {
                log.accept("cluster: slot " + slot + " had no dirty chunks left (another node took them over first)");
            }
            if (chunks > 0) {
                resyncNeeded.accept(chunks);                                  // 5.
            }
            return null;
        });
    }

    private CompletableFuture<Void> announce(MessageType type, int slot) {
        return channel.send(ClusterMessage.of(type, 0, slot, 0)).handle((m, e) -> {
            if (e != null) {
                log.accept("cluster: could not tell the other nodes " + type + " of slot " + slot + ": "
                        + MessageChannel.unwrap(e).getMessage());
            }
            return null;
        });
    }

    private synchronized void forget(int slot, LockHandle h) {
        if (watching.get(slot) == h) {
            watching.remove(slot);
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    /** The slots watched (live nodes), for status. */
    public synchronized Set<Integer> watchedSlots() {
        return Set.copyOf(watching.keySet());
    }

    /** The slots being recovered here, for status. */
    public synchronized Set<Integer> recoveringSlots() {
        return Set.copyOf(recovering);
    }

    /** Stops watching (the locks go with the lockspace). */
    public synchronized void close() {
        closed = true;
        for (LockHandle h : watching.values()) {
            if (h.pending()) {
                h.cancel();
            }
        }
        watching.clear();
    }
}
