package io.clustermd.md.cluster;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.md.array.ClusterOperations;
import io.clustermd.md.array.MemberChange;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * md's {@code struct md_cluster_operations} for a clustered array ({@code md-cluster.c}'s
 * {@code cluster_ops}), on a {@link ClusterNode}: the array calls these without knowing that a
 * cluster is there ({@link io.clustermd.md.array.LocalClusterOperations} is the single node).
 */
public final class DlmClusterOperations implements ClusterOperations {

    /** How often a waiting resync re-requests the {@code resync} lock and says what it waits for. */
    static final Duration RESYNC_LOCK_RETRY = Duration.ofSeconds(5);

    private final ClusterNode node;
    private final Consumer<String> log;
    private final Object tokenLock = new Object();
    private MessageChannel.TokenHold token;
    private volatile String resyncWaitingFor;

    private final java.util.function.Supplier<CompletableFuture<Void>> reloadSuperblock;

    public DlmClusterOperations(ClusterNode node, Consumer<String> log) {
        this(node, () -> CompletableFuture.completedFuture(null), log);
    }

    /**
     * @param reloadSuperblock run with the token held, before this node writes superblocks: another
     *                         node may have written newer ones since our last look ({@code md_reload_sb})
     */
    public DlmClusterOperations(ClusterNode node, java.util.function.Supplier<CompletableFuture<Void>> reloadSuperblock,
                                Consumer<String> log) {
        this.node = node;
        this.reloadSuperblock = reloadSuperblock;
        this.log = log;
    }

    @Override
    public int slot() {
        return node.slot();
    }

    @Override
    public CompletableFuture<Void> awaitWritable(long offset, long length) {
        return node.windows().awaitWritable(offset, length);
    }

    @Override
    public boolean readFromFirstOnly(long offset, long length) {
        return node.windows().readFromFirstOnly(offset, length);
    }

    /** md's {@code metadata_update_start}: the token, held until {@link #metadataUpdateFinish}. */
    @Override
    public CompletableFuture<Void> metadataUpdateStart() {
        return node.channel().acquireToken().thenCompose(hold -> {
            synchronized (tokenLock) {
                token = hold;
            }
            return reloadSuperblock.get().exceptionally(e -> {
                log.accept("cluster: cannot re-read the superblock before updating it: "
                        + MessageChannel.unwrap(e).getMessage() + "; writing ours");
                return null;
            });
        });
    }

    /**
     * md's {@code metadata_update_start} after a member change, with the change's message first:
     * <ol>
     *   <li>the token;</li>
     *   <li>NEWDISK, REMOVE or RE_ADD to every node (each processed it when the send completes);</li>
     *   <li>NEWDISK only: {@code no-new-dev} EX|NOQUEUE — every node confirmed — or a refusal: then
     *       METADATA_UPDATED (the superblocks unchanged) so every node drops the candidate and
     *       re-arms, the token goes back, and the start fails with the refusing nodes;</li>
     *   <li>the token stays for the superblock update ({@link #metadataUpdateFinish} releases it).</li>
     * </ol>
     */
    @Override
    public CompletableFuture<Void> metadataUpdateStart(MemberChange change) {
        return node.channel().acquireToken().thenCompose(hold -> sendChange(hold, change).handle((v, e) -> {   // 1.
            if (e != null) {
                return hold.release().handle((r, releaseError) -> {
                    throw new CompletionException(MessageChannel.unwrap(e));
                });
            }
            synchronized (tokenLock) {
                token = hold;                                                                    // 4.
            }
            return reloadSuperblock.get().exceptionally(x -> null);
        }).thenCompose(f -> f)).thenApply(v -> null);
    }

    private CompletableFuture<Void> sendChange(MessageChannel.TokenHold hold, MemberChange change) {
        return switch (change.kind()) {
            case NEW_DISK -> hold.send(new ClusterMessage(MessageType.NEWDISK, 0, change.devNumber(), 0, 0,   // 2.
                            change.deviceUuid(), 0))
                    .thenCompose(m -> node.newDiskConfirmations())                                 // 3.
                    .thenCompose(refused -> {
                        if (refused.isEmpty()) {
                            return CompletableFuture.<Void>completedFuture(null);
                        }
                        log.accept("cluster: the new member (number " + change.devNumber() + ") is refused by "
                                + String.join(", ", refused));
                        return hold.send(ClusterMessage.of(MessageType.METADATA_UPDATED, 0, 0, 0))
                                .handle((m, e) -> {
                                    throw new CompletionException(new MemberChange.RefusedException(refused));
                                });
                    });
            case REMOVE -> hold.send(ClusterMessage.of(MessageType.REMOVE, 0, change.devNumber(), 0))
                    .thenApply(m -> null);
            case RE_ADD -> hold.send(new ClusterMessage(MessageType.RE_ADD, 0, change.devNumber(),
                    Math.max(0, change.slot()), 0, null, 0)).thenApply(m -> null);
        };
    }

    @Override
    public CompletableFuture<Void> changeCapacity() {
        return node.channel().send(ClusterMessage.of(MessageType.CHANGE_CAPACITY, 0, 0, 0)).thenApply(m -> null);
    }

    @Override
    public boolean clustered() {
        return true;
    }

    @Override
    public int slotCount() {
        return node.slotCount();
    }

    /** md's {@code metadata_update_finish}: METADATA_UPDATED to every node, then the token goes back. */
    @Override
    public CompletableFuture<Void> metadataUpdateFinish() {
        MessageChannel.TokenHold hold;
        synchronized (tokenLock) {
            hold = token;
            token = null;
        }
        if (hold == null) {
            return CompletableFuture.failedFuture(new IllegalStateException("metadata update finished without a start"));
        }
        return hold.send(ClusterMessage.of(MessageType.METADATA_UPDATED, 0, 0, 0))
                .handle((m, e) -> hold.release().handle((v, releaseError) -> {
                    if (e != null) {
                        throw new CompletionException(MessageChannel.unwrap(e));
                    }
                    return (Void) null;
                }))
                .thenCompose(f -> f);
    }

    /**
     * md's {@code resync_start}: the {@code resync} lock EX, so one node at a time syncs. Waits as
     * long as another node resyncs (md waits without a bound too), re-requesting every few seconds
     * so the wait is logged and shown ({@link #resyncWaitingFor()}); an interrupt (stop) ends it.
     */
    @Override
    public void resyncStart() throws InterruptedException {
        LockHandle resync = node.resyncLock();
        while (true) {
            CompletableFuture<LockResult> f = resync.lock(LockMode.EX, RESYNC_LOCK_RETRY, LockFlag.CONVERT);
            try {
                LockResult r = f.get(RESYNC_LOCK_RETRY.toMillis() + 5_000, TimeUnit.MILLISECONDS);
                if (r.granted()) {
                    resyncWaitingFor = null;
                    return;
                }
                resyncWaitingFor = "another node to finish its resync (lock 'resync')";
                log.accept("cluster: resync waits for " + resyncWaitingFor + ": " + r.status());
            } catch (InterruptedException e) {
                resync.cancel();
                resyncWaitingFor = null;
                throw e;
            } catch (ExecutionException | TimeoutException e) {
                resyncWaitingFor = "the lock manager (lock 'resync')";
                log.accept("cluster: resync waits for " + resyncWaitingFor + ": " + e);
                resync.cancel();
            }
        }
    }

    /** What a waiting {@link #resyncStart} waits for, or {@code null}. */
    public String resyncWaitingFor() {
        return resyncWaitingFor;
    }

    /**
     * md's {@code resync_info_update}: the window in our slot lock's LVB (for nodes that join
     * later), then RESYNCING(low, high) to every node. Completes with their acknowledgements
     * (bounded by the ack timeout), because writes on the other nodes must be held before this
     * node copies the window; fails with the reason the announcement could not be made.
     */
    @Override
    public CompletableFuture<Void> resyncInfoUpdate(long low, long high) {
        ResyncInfoCodec.Window w = high == 0 ? ResyncInfoCodec.Window.NONE : new ResyncInfoCodec.Window(low, high);
        CompletableFuture<Void> announced;
        try {
            announced = node.publishWindow(w)
                    .thenCompose(v -> node.channel().send(ClusterMessage.resyncing(0, w.lo(), w.hi(), 0)))
                    .thenApply(m -> null);
        } catch (RuntimeException e) {
            announced = CompletableFuture.failedFuture(e);   // a fenced lockspace refuses at once
        }
        return announced.exceptionally(e -> {
            Throwable cause = MessageChannel.unwrap(e);
            throw new CompletionException(new IllegalStateException("cannot announce resync window [" + low + ", "
                    + high + "): " + cause.getMessage(), cause));
        });
    }

    /** md's {@code resync_finish}: RESYNCING(0,0), then the {@code resync} lock back to NL. */
    @Override
    public void resyncFinish() {
        try {
            resyncInfoUpdate(0, 0).join();
        } finally {
            LockHandle h = node.resyncLock();
            if (h.grantedMode() == LockMode.EX) {
                h.convert(LockMode.NL).join();
            }
        }
    }

    /** A message's round through the lock manager, with room for a slow node. */
    @Override
    public long metadataMessageMillis() {
        return 3_000;
    }

    /** md's {@code leave}. */
    @Override
    public void leave() {
        node.leave().join();
    }
}
