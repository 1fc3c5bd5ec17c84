package io.clustermd.bitmap;

import java.util.concurrent.CompletableFuture;

/**
 * What {@link WriteIntentBitmap#mergeFrom} found in another node's slot: md's {@code copy_from_slot}
 * out-parameters {@code low}/{@code high}, without md's quirk (md reports "first dirty chunk" with
 * {@code if (!lo) lo = block}, so a dirty chunk 0 is lost and a slot whose only dirty chunk is 0 does not
 * lower {@code recovery_cp}). Here the true first and last dirty chunks are reported, chunk 0 included.
 *
 * @param chunksFound chunks set in the other slot (within this bitmap's chunk count)
 * @param firstChunk  lowest set chunk, or -1 when none was set
 * @param lastChunk   highest set chunk, or -1 when none was set
 * @param durable     completes when the merged bits are durable in <em>this</em> node's slot; only then may
 *                    the caller clear the other slot (flush our own slot first, then clear the remote one:
 *                    md does it the other way round and can lose the bits in a crash)
 */
public record MergeResult(long chunksFound, long firstChunk, long lastChunk, CompletableFuture<Void> durable) {

    /** True when the other slot had at least one dirty chunk. */
    public boolean anyDirty() {
        return chunksFound > 0;
    }
}
