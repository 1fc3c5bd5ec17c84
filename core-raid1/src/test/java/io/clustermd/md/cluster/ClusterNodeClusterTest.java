package io.clustermd.md.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.clustermd.dlm.local.LocalLockCluster;
import io.clustermd.dlm.local.LocalLockManager;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Join, death, takeover and resync windows of md-cluster's protocol on a mini cluster of
 * in-process nodes. The members' bitmap slots are a shared map of dirty-chunk counts: what a
 * takeover moves, and what must never be lost.
 */
class ClusterNodeClusterTest {

    private static final String LOCKSPACE = "cmd-00000000-0000-0000-0000-000000000002";
    private static final ClusterNode.Timeouts TIMEOUTS = new ClusterNode.Timeouts(Duration.ofSeconds(5),
            Duration.ofSeconds(5));
    private static final Duration GRACE = Duration.ofMillis(300);

    private final LocalLockCluster cluster = new LocalLockCluster(null, null, GRACE);
    /** Dirty chunks per bitmap slot, as on the members. */
    private final Map<Integer, Long> dirtyBySlot = new ConcurrentHashMap<>();
    private final List<String> log = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() {
        cluster.close();
    }

    private class Node implements ClusterNode.ArrayEvents {
        final String name;
        final LocalLockManager manager;
        final ClusterNode cluster;
        final AtomicLong takenOver = new AtomicLong();
        final AtomicLong resyncRequested = new AtomicLong();
        final List<int[]> remoteRecoveries = new CopyOnWriteArrayList<>();
        volatile int ownSlot = -1;

        Node(String name) throws Exception {
            this.name = name;
            this.manager = ClusterNodeClusterTest.this.cluster.join(name);
            this.cluster = ClusterNode.join(manager.openLockspace(LOCKSPACE, Duration.ofSeconds(5)), 8, name, this,
                    TIMEOUTS, line -> log.add(name + ": " + line)).get(20, TimeUnit.SECONDS);
            ownSlot = this.cluster.slot();
            this.cluster.recoverAbandonedSlots().get(20, TimeUnit.SECONDS);
        }

        @Override
        public CompletableFuture<Long> takeOver(int slot) {
            // 2. our slot first, 3. then the dead one cleared: the count is never on no slot.
            long moved = dirtyBySlot.getOrDefault(slot, 0L);
            dirtyBySlot.merge(ownSlot, moved, Long::sum);
            dirtyBySlot.put(slot, 0L);
            takenOver.addAndGet(moved);
            return CompletableFuture.completedFuture(moved);
        }

        @Override
        public void resyncNeeded(long chunks) {
            resyncRequested.addAndGet(chunks);
        }

        @Override
        public CompletableFuture<Void> remoteSlotRecovered(int recovererSlot, int deadSlot) {
            remoteRecoveries.add(new int[] {recovererSlot, deadSlot});
            return CompletableFuture.completedFuture(null);
        }
    }

    @Test
    void join_threeNodes_eachWatchesTheOthers() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        Node c = new Node("c");
        assertThat(List.of(a.ownSlot, b.ownSlot, c.ownSlot)).containsExactly(0, 1, 2);
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> {
            assertThat(a.cluster.peerSlots()).containsExactlyInAnyOrder(1, 2);
            assertThat(b.cluster.peerSlots()).containsExactlyInAnyOrder(0, 2);
            assertThat(c.cluster.peerSlots()).containsExactlyInAnyOrder(0, 1);
        });
    }

    @Test
    void nodeCrash_exactlyOneSurvivorTakesItsDirtyChunksOver_andTheOtherIsTold() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        Node c = new Node("c");
        dirtyBySlot.put(b.ownSlot, 17L);

        cluster.crash(b.manager);

        await().atMost(10, TimeUnit.SECONDS).until(() -> a.takenOver.get() + c.takenOver.get() == 17);
        Node recoverer = a.takenOver.get() == 17 ? a : c;
        Node other = recoverer == a ? c : a;
        assertThat(dirtyBySlot.get(b.ownSlot)).isZero();
        assertThat(dirtyBySlot.get(recoverer.ownSlot)).isEqualTo(17);
        await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> {
            // The resync is asked for once the others were told (SLOT_RECOVERED) and the slot released.
            assertThat(recoverer.resyncRequested.get()).isEqualTo(17);
            assertThat(other.remoteRecoveries).anyMatch(r -> r[0] == recoverer.ownSlot && r[1] == b.ownSlot);
            // Both back to balanced reads, and neither watches the dead slot any more.
            assertThat(a.cluster.windows().readFromFirstOnly(0, 4096)).isFalse();
            assertThat(c.cluster.windows().readFromFirstOnly(0, 4096)).isFalse();
            assertThat(a.cluster.peerSlots()).doesNotContain(b.ownSlot);
            assertThat(c.cluster.peerSlots()).doesNotContain(b.ownSlot);
        });
        assertThat(log).anyMatch(l -> l.contains("node in slot " + b.ownSlot + " is gone"));
    }

    @Test
    void cleanLeave_isNotRecovered_andItsSlotIsFreeForTheNextNode() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        int slotB = b.ownSlot;
        b.cluster.leave().get(10, TimeUnit.SECONDS);

        await().atMost(5, TimeUnit.SECONDS).until(() -> log.contains("a: cluster: node in slot " + slotB + " left cleanly"));
        assertThat(a.cluster.peerSlots()).doesNotContain(slotB);
        assertThat(log).noneMatch(l -> l.contains("is gone"));
        assertThat(new Node("b2").ownSlot).isEqualTo(slotB);
    }

    @Test
    void restartAfterCrash_takesAnotherSlot_andTheOldOneIsRecovered() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        dirtyBySlot.put(b.ownSlot, 5L);
        cluster.crash(b.manager);

        Node again = new Node("b-again");      // before the grace: the old slot still looks held
        assertThat(again.ownSlot).isNotEqualTo(b.ownSlot);

        await().atMost(10, TimeUnit.SECONDS).until(() -> a.takenOver.get() + again.takenOver.get() == 5);
        assertThat(dirtyBySlot.get(b.ownSlot)).isZero();
    }

    @Test
    void deadNodeLeftAlone_isRecoveredByTheNextNodeToJoin() throws Exception {
        Node a = new Node("a");
        Node x = new Node("x");
        dirtyBySlot.put(x.ownSlot, 9L);
        a.cluster.leave().get(10, TimeUnit.SECONDS);   // nobody left to watch x
        cluster.crash(x.manager);
        Thread.sleep(GRACE.toMillis() * 3);

        Node b = new Node("b");                          // takes a's clean slot, finds x's dirty one
        assertThat(b.ownSlot).isEqualTo(a.ownSlot);
        await().atMost(10, TimeUnit.SECONDS).until(() -> b.takenOver.get() == 9);
        await().atMost(10, TimeUnit.SECONDS).until(() -> b.resyncRequested.get() == 9);
        assertThat(dirtyBySlot.get(x.ownSlot)).isZero();
    }

    @Test
    void joinAfterCrash_intoTheDeadNodesFreeSlot_keepsItsBitsThere() throws Exception {
        Node a = new Node("a");
        dirtyBySlot.put(a.ownSlot, 4L);
        cluster.crash(a.manager);
        Thread.sleep(GRACE.toMillis() * 3);

        // The slot is free again, and the next node owns it with its bits: they are resynced as
        // its own at assembly (every slot's dirty chunks are), so nothing needs taking over.
        Node b = new Node("b");
        assertThat(b.ownSlot).isEqualTo(a.ownSlot);
        assertThat(dirtyBySlot.get(b.ownSlot)).isEqualTo(4);
    }

    @Test
    void resyncWindow_ofARunningNode_holdsWritesOnEveryNode_includingOneThatJoinsLater() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        ResyncInfoCodec.Window window = new ResyncInfoCodec.Window(0, 2048);        // sectors: the first 1 MiB
        a.cluster.publishWindow(window).get(5, TimeUnit.SECONDS);
        a.cluster.channel().send(ClusterMessage.resyncing(0, window.lo(), window.hi(), 0)).get(5, TimeUnit.SECONDS);

        Node c = new Node("c");                                                      // learns it from a's LVB
        for (Node n : List.of(b, c)) {
            assertThat(n.cluster.windows().windows()).containsEntry(a.ownSlot, window);
            assertThat(n.cluster.windows().readFromFirstOnly(4096, 4096)).isTrue();
            assertThat(n.cluster.windows().readFromFirstOnly(2L << 20, 4096)).isFalse();
            assertThat(n.cluster.windows().awaitWritable(2L << 20, 4096)).isDone();
        }
        CompletableFuture<Void> heldB = b.cluster.windows().awaitWritable(512 * 1024, 4096);
        CompletableFuture<Void> heldC = c.cluster.windows().awaitWritable(1024 * 1024 - 512, 1024);
        assertThat(heldB).isNotDone();
        assertThat(heldC).isNotDone();

        a.cluster.channel().send(ClusterMessage.resyncing(0, 0, 0, 0)).get(5, TimeUnit.SECONDS);   // done
        heldB.get(5, TimeUnit.SECONDS);
        heldC.get(5, TimeUnit.SECONDS);
    }

    @Test
    void resyncStart_oneNodeAtATime_andItsWindowsHoldWritesElsewhere() throws Exception {
        Node a = new Node("a");
        Node b = new Node("b");
        DlmClusterOperations opsA = new DlmClusterOperations(a.cluster, line -> log.add("a: " + line));
        DlmClusterOperations opsB = new DlmClusterOperations(b.cluster, line -> log.add("b: " + line));

        opsA.resyncStart();
        CompletableFuture<Void> bTurn = CompletableFuture.runAsync(() -> {
            try {
                opsB.resyncStart();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        opsA.resyncInfoUpdate(0, 4096).join();
        assertThat(b.cluster.windows().awaitWritable(0, 4096)).isNotDone();
        assertThat(opsB.readFromFirstOnly(1 << 20, 4096)).isTrue();
        assertThat(bTurn).isNotDone();

        opsA.resyncFinish();
        bTurn.get(10, TimeUnit.SECONDS);
        assertThat(opsB.awaitWritable(0, 4096)).isDone();
        opsB.resyncFinish();
    }

    @Test
    void metadataUpdate_tellsEveryOtherNodeToReloadTheSuperblocks() throws Exception {
        List<Integer> reloads = new CopyOnWriteArrayList<>();
        Node a = new Node("a");
        Node b = new Node("b") {
            @Override
            public CompletableFuture<Void> metadataUpdated(int senderSlot, int raidSlot) {
                reloads.add(raidSlot);
                return CompletableFuture.completedFuture(null);
            }
        };
        DlmClusterOperations opsA = new DlmClusterOperations(a.cluster, line -> log.add("a: " + line));
        opsA.metadataUpdateStart().get(5, TimeUnit.SECONDS);
        opsA.metadataUpdateFinish().get(5, TimeUnit.SECONDS);
        assertThat(reloads).hasSize(1);
        assertThat(b.cluster.channel().messagesReceived()).isEqualTo(1);   // b joined after a: only this one
    }
}
