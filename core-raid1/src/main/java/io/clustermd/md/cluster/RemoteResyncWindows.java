package io.clustermd.md.cluster;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * The ranges other nodes are resyncing right now, and what they mean for this node's I/O: md's
 * suspend list ({@code suspend_lo}/{@code suspend_hi}/{@code suspend_from}, kept per node here
 * rather than md's single last-one-wins range) and its {@code SUSPEND_READ_BALANCING} flag.
 *
 * <p>Writes into a window wait (without blocking a thread: {@link #awaitWritable} returns a
 * future) until the window moves past them, so a resync never copies stale data over a write
 * (md's {@code area_resyncing(WRITE)}). Reads inside a window, and every read while a dead node's
 * slot is being recovered, go to the first in-sync member only (md's {@code area_resyncing(READ)}),
 * so two reads never return old, new, old. Windows are in 512-byte sectors as in the messages;
 * the I/O methods take bytes.
 */
public final class RemoteResyncWindows {

    private final Map<Integer, ResyncInfoCodec.Window> bySlot = new TreeMap<>();
    /**
     * Chunks another node took over from a dead one and has not resynced yet, by that node's slot:
     * read from the first member until its resync ends (RESYNCING 0,0).
     */
    private final Map<Integer, java.util.BitSet> takenOverBySlot = new TreeMap<>();
    private long chunkBytes = 1;
    private final List<Waiter> waiters = new ArrayList<>();
    private int readBalancingSuspensions;

    private record Waiter(long fromSector, long toSector, CompletableFuture<Void> future) {
    }

    /**
     * Node {@code slot} now resyncs {@code window} (a RESYNCING message, or its bitmap lock's LVB
     * read at join); an inactive window removes the node's entry. Writes that no longer meet any
     * window go ahead.
     */
    public void update(int slot, ResyncInfoCodec.Window window) {
        List<CompletableFuture<Void>> ready = new ArrayList<>();
        synchronized (this) {
            if (window.active()) {
                bySlot.put(slot, window);
            } else {
                bySlot.remove(slot);
                takenOverBySlot.remove(slot);
            }
            for (Iterator<Waiter> it = waiters.iterator(); it.hasNext(); ) {
                Waiter w = it.next();
                if (blockingSlot(w.fromSector, w.toSector) < 0) {
                    it.remove();
                    ready.add(w.future);
                }
            }
        }
        ready.forEach(f -> f.complete(null));
    }

    /** Completes when no other node resyncs any part of the byte range. */
    public CompletableFuture<Void> awaitWritable(long offset, long length) {
        long from = offset >>> 9;
        long to = (offset + length + 511) >>> 9;
        synchronized (this) {
            if (blockingSlot(from, to) < 0) {
                return CompletableFuture.completedFuture(null);
            }
            CompletableFuture<Void> f = new CompletableFuture<>();
            waiters.add(new Waiter(from, to, f));
            return f;
        }
    }

    /** True when reads of the byte range must go to the first in-sync member only. */
    public synchronized boolean readFromFirstOnly(long offset, long length) {
        return readBalancingSuspensions > 0 || blockingSlot(offset >>> 9, (offset + length + 511) >>> 9) >= 0
                || inTakenOverChunk(offset, length);
    }

    /**
     * Node {@code slot} now holds a dead node's dirty chunks ({@code chunks}, of {@code bytesPerChunk}
     * each; its whole slot as read from the members): they read from the first member on this node
     * until node {@code slot} says its resync ended.
     */
    public synchronized void takenOver(int slot, java.util.BitSet chunks, long bytesPerChunk) {
        if (bytesPerChunk <= 0) {
            throw new IllegalArgumentException("chunk size must be positive");
        }
        chunkBytes = bytesPerChunk;
        takenOverBySlot.merge(slot, (java.util.BitSet) chunks.clone(), (a, b) -> {
            a.or(b);
            return a;
        });
    }

    private boolean inTakenOverChunk(long offset, long length) {
        if (takenOverBySlot.isEmpty() || length <= 0) {
            return false;
        }
        int first = (int) (offset / chunkBytes);
        int last = (int) ((offset + length - 1) / chunkBytes);
        for (java.util.BitSet set : takenOverBySlot.values()) {
            int next = set.nextSetBit(first);
            if (next >= 0 && next <= last) {
                return true;
            }
        }
        return false;
    }

    /**
     * md's {@code SUSPEND_READ_BALANCING}: from the moment a node's death is detected until its
     * dirty chunks are known to this node (merged into our bitmap, so they read from one member
     * only as chunks needing sync), every read goes to the first in-sync member. Nests.
     */
    public synchronized void suspendReadBalancing() {
        readBalancingSuspensions++;
    }

    /** Ends one {@link #suspendReadBalancing}. */
    public synchronized void resumeReadBalancing() {
        if (readBalancingSuspensions == 0) {
            throw new IllegalStateException("read balancing is not suspended");
        }
        readBalancingSuspensions--;
    }

    /** The windows by node slot, for status. */
    public synchronized Map<Integer, ResyncInfoCodec.Window> windows() {
        return Map.copyOf(bySlot);
    }

    /** Writes waiting for a window to move, for status. */
    public synchronized int waitingWrites() {
        return waiters.size();
    }

    private int blockingSlot(long fromSector, long toSector) {
        for (Map.Entry<Integer, ResyncInfoCodec.Window> e : bySlot.entrySet()) {
            ResyncInfoCodec.Window w = e.getValue();
            if (fromSector < w.hi() && w.lo() < toSector) {
                return e.getKey();
            }
        }
        return -1;
    }
}
