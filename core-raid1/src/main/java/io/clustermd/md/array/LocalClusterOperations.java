package io.clustermd.md.array;

import java.util.concurrent.CompletableFuture;

/** The cluster of one node: nothing to coordinate, every answer immediate. */
public final class LocalClusterOperations implements ClusterOperations {

    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

    @Override
    public int slot() {
        return 0;
    }

    @Override
    public CompletableFuture<Void> awaitWritable(long offset, long length) {
        return DONE;
    }

    @Override
    public boolean readFromFirstOnly(long offset, long length) {
        return false;
    }

    @Override
    public CompletableFuture<Void> metadataUpdateStart() {
        return DONE;
    }

    @Override
    public CompletableFuture<Void> metadataUpdateFinish() {
        return DONE;
    }

    @Override
    public void resyncStart() {
    }

    @Override
    public CompletableFuture<Void> resyncInfoUpdate(long low, long high) {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void resyncFinish() {
    }

    @Override
    public void leave() {
    }
}
