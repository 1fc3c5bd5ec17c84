package io.clustermd.md.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class RemoteResyncWindowsTest {

    private final RemoteResyncWindows windows = new RemoteResyncWindows();

    @Test
    void awaitWritable_insideAnyNodesWindow_waitsUntilEveryWindowMovedPast() {
        windows.update(1, new ResyncInfoCodec.Window(0, 16));       // bytes [0, 8 KiB)
        windows.update(2, new ResyncInfoCodec.Window(8, 24));       // bytes [4 KiB, 12 KiB)
        CompletableFuture<Void> write = windows.awaitWritable(6144, 1024);
        assertThat(windows.awaitWritable(12288, 4096)).isDone();
        assertThat(windows.waitingWrites()).isEqualTo(1);

        windows.update(1, new ResyncInfoCodec.Window(16, 32));      // node 1 moved on; node 2 still there
        assertThat(write).isNotDone();
        windows.update(2, ResyncInfoCodec.Window.NONE);             // node 2 done
        assertThat(write).isDone();
        assertThat(windows.windows()).containsOnlyKeys(1);
    }

    @Test
    void readFromFirstOnly_insideAWindowOrWhileSuspended_andSuspensionsNest() {
        windows.update(3, new ResyncInfoCodec.Window(0, 8));
        assertThat(windows.readFromFirstOnly(0, 512)).isTrue();
        assertThat(windows.readFromFirstOnly(4096, 4096)).isFalse();

        windows.suspendReadBalancing();
        windows.suspendReadBalancing();
        assertThat(windows.readFromFirstOnly(1 << 30, 4096)).isTrue();
        windows.resumeReadBalancing();
        assertThat(windows.readFromFirstOnly(1 << 30, 4096)).isTrue();
        windows.resumeReadBalancing();
        assertThat(windows.readFromFirstOnly(1 << 30, 4096)).isFalse();
        assertThatThrownBy(windows::resumeReadBalancing).hasMessageContaining("not suspended");
    }

    @Test
    void window_aSectorBoundaryTouch_isNotAnOverlap() {
        windows.update(1, new ResyncInfoCodec.Window(8, 16));       // bytes [4096, 8192)
        assertThat(windows.awaitWritable(0, 4096)).isDone();
        assertThat(windows.awaitWritable(8192, 4096)).isDone();
        assertThat(windows.awaitWritable(4095, 1)).isDone();
        assertThat(windows.awaitWritable(8191, 1)).isNotDone();
    }

    @Test
    void takenOverChunks_readFromTheFirstMember_untilTheirHoldersResyncEnds() {
        java.util.BitSet chunks = new java.util.BitSet();
        chunks.set(0);
        chunks.set(5);
        windows.takenOver(2, chunks, 1 << 20);
        assertThat(windows.readFromFirstOnly(0, 4096)).isTrue();
        assertThat(windows.readFromFirstOnly((5L << 20) + 4096, 4096)).isTrue();
        assertThat(windows.readFromFirstOnly(3L << 20, 4096)).isFalse();
        assertThat(windows.readFromFirstOnly((4L << 20) + 4096, 1L << 20)).as("spans into chunk 5").isTrue();
        assertThat(windows.awaitWritable(0, 4096)).as("writes are not held by it").isDone();

        windows.update(2, new ResyncInfoCodec.Window(0, 2048));   // the holder resyncs ...
        windows.update(2, ResyncInfoCodec.Window.NONE);           // ... and is done
        assertThat(windows.readFromFirstOnly(0, 4096)).isFalse();
        assertThat(windows.readFromFirstOnly(5L << 20, 4096)).isFalse();
    }
}
