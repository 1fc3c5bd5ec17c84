package io.clustermd.md.array;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The resync checkpoint of an array without a bitmap against writes, with the superblock writes
 * held in the test's hands: a write below the checkpoint on disk goes on only once a lower one is
 * durable, and the sync cannot raise it while a write is in flight.
 */
class NoBitmapCheckpointTest {

    static final long MIB = 1L << 20;

    private final List<Long> lowered = new ArrayList<>();
    private final List<CompletableFuture<Void>> superblockWrites = new ArrayList<>();
    private CompletableFuture<Void> pending;

    private NoBitmapOps ops(long checkpoint) {
        NoBitmapOps ops = new NoBitmapOps(64 * MIB);
        ops.guardCheckpoint(checkpoint, bytes -> {
            lowered.add(bytes);
            if (pending == null || pending.isDone()) {
                pending = new CompletableFuture<>();
                superblockWrites.add(pending);
            }
            return pending; // as MdArray: one queued update carries every lowering made before it runs
        });
        return ops;
    }

    @Test
    void startWrite_belowTheCheckpoint_waitsUntilALowerOneIsDurable() {
        NoBitmapOps ops = ops(32 * MIB);
        CompletableFuture<Void> first = ops.startWrite(5 * MIB + 4096, 4096);
        CompletableFuture<Void> second = ops.startWrite(7 * MIB, 4096);
        assertThat(lowered).containsExactly(5 * MIB, 7 * MIB);
        assertThat(first).isNotDone();
        assertThat(second).as("below the checkpoint the disk still has").isNotDone();

        superblockWrites.get(0).complete(null);
        assertThat(first).isDone();
        assertThat(second).isDone();
        assertThat(ops.startWrite(6 * MIB, 4096)).as("at or past the durable checkpoint").isDone();
        assertThat(lowered).hasSize(2);
    }

    @Test
    void startWrite_atOrPastTheCheckpoint_needsNoSuperblock() {
        NoBitmapOps ops = ops(32 * MIB);
        assertThat(ops.startWrite(32 * MIB, 4096)).isDone();
        assertThat(ops.startWrite(40 * MIB, 65536)).isDone();
        assertThat(lowered).isEmpty();
    }

    @Test
    void raiseCheckpoint_writeInFlight_refusedUntilItEnds() {
        NoBitmapOps ops = ops(0);
        assertThat(ops.startWrite(3 * MIB, 4096)).isDone();
        assertThat(ops.raiseCheckpoint(16 * MIB)).isFalse();
        assertThat(ops.startWrite(4 * MIB, 4096)).as("the refused raise left nothing to lower").isDone();
        ops.endWrite(3 * MIB, 4096, true, false);
        ops.endWrite(4 * MIB, 4096, true, false);

        assertThat(ops.raiseCheckpoint(16 * MIB)).isTrue();
        CompletableFuture<Void> below = ops.startWrite(15 * MIB, 4096);
        assertThat(below).isNotDone();
        assertThat(lowered).containsExactly(15 * MIB);
    }
}
