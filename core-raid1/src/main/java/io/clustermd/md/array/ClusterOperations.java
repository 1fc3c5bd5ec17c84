package io.clustermd.md.array;

import java.util.concurrent.CompletableFuture;

/**
 * md's {@code struct md_cluster_operations}: everything the array asks of the cluster. The
 * single-node array uses {@link LocalClusterOperations}; the md-cluster protocol plugs in here
 * without the array knowing which one runs.
 */
public interface ClusterOperations {

    /** This node's bitmap slot ({@code slot_number}); 0 on a single node. */
    int slot();

    /**
     * {@code area_resyncing(WRITE)}: completes when no other node suspends writes to the range
     * (its resync window); immediately on a single node.
     */
    CompletableFuture<Void> awaitWritable(long offset, long length);

    /** {@code area_resyncing(READ)}: true when reads of the range must go to the first in-sync member. */
    boolean readFromFirstOnly(long offset, long length);

    /** {@code metadata_update_start}: take the right to write superblocks (the token). */
    CompletableFuture<Void> metadataUpdateStart();

    /**
     * {@code metadata_update_start} for a member change: the token, then the change's message to
     * every node (NEWDISK waits for every node's confirmation, md's {@code add_new_disk}); the
     * superblock update that follows uses the same token. Fails with
     * {@link MemberChange.RefusedException} when a node cannot see a new member; the token is
     * then back and nothing changed.
     */
    default CompletableFuture<Void> metadataUpdateStart(MemberChange change) {
        return metadataUpdateStart();
    }

    /**
     * md-cluster's CHANGE_CAPACITY after a size change every node's superblocks and bitmap follow:
     * completes once every node serves the new capacity.
     */
    default CompletableFuture<Void> changeCapacity() {
        return CompletableFuture.completedFuture(null);
    }

    /** True for md-cluster: other nodes use the same members. */
    default boolean clustered() {
        return false;
    }

    /** Node slots of the clustered bitmap ({@code nodes}); 1 on a single node. */
    default int slotCount() {
        return 1;
    }

    /** {@code metadata_update_finish}: superblocks written; tell the other nodes. */
    CompletableFuture<Void> metadataUpdateFinish();

    /** {@code resync_start}: become the one node that resyncs (blocks until it is our turn). */
    void resyncStart() throws InterruptedException;

    /**
     * {@code resync_info_update}: announce the window being resynced ({@code 0,0} ends it).
     * Completes once every other node holds its writes in the window (their acknowledgements); a
     * range may be copied only then. One announcement at a time.
     */
    CompletableFuture<Void> resyncInfoUpdate(long low, long high);

    /** {@code resync_finish}. */
    void resyncFinish();

    /**
     * How much longer than on a single node a superblock update may take (its METADATA_UPDATED
     * waits for every node's acknowledgement): a clean stop waits this much more for its last one.
     */
    default long metadataMessageMillis() {
        return 0;
    }

    /** {@code leave}. */
    void leave();
}
