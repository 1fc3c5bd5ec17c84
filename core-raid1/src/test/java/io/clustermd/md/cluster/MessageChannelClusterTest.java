package io.clustermd.md.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.local.LocalLockCluster;
import io.clustermd.dlm.local.LocalLockManager;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The messaging and slot parts of md-cluster's protocol on a mini cluster of in-process nodes
 * (the {@code local} lock manager, real threads).
 */
class MessageChannelClusterTest {

    private static final String LOCKSPACE = "cmd-00000000-0000-0000-0000-000000000001";
    private static final Duration STEP = Duration.ofSeconds(5);

    private final LocalLockCluster cluster = new LocalLockCluster(null, null, Duration.ofMillis(200));
    private final List<String> log = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() {
        cluster.close();
    }

    /** One node: its lock manager, slot and channel, and what it received. */
    private final class Node {
        final LocalLockManager manager;
        final Lockspace lockspace;
        final SlotClaim slot;
        final MessageChannel channel;
        final List<ClusterMessage> received = new CopyOnWriteArrayList<>();

        Node(String name, int nodes, Duration ackTimeout, MessageChannel.Receiver receiver) throws Exception {
            manager = cluster.join(name);
            lockspace = manager.openLockspace(LOCKSPACE, STEP);
            slot = SlotClaim.claimFirstFree(lockspace, nodes, STEP).get(10, TimeUnit.SECONDS);
            channel = new MessageChannel(lockspace, slot.slot(), STEP, ackTimeout, line -> log.add(name + ": " + line));
            channel.open().get(10, TimeUnit.SECONDS);
            channel.startReceiving(m -> {
                received.add(m);
                return receiver.receive(m);
            });
        }
    }

    private Node node(String name) throws Exception {
        return new Node(name, 32, STEP, m -> CompletableFuture.completedFuture(null));
    }

    @Test
    void claimFirstFree_givesEveryNodeItsOwnSlot_andRefusesOneTooMany() throws Exception {
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            nodes.add(new Node("n" + i, 3, STEP, m -> CompletableFuture.completedFuture(null)));
        }
        assertThat(nodes).extracting(n -> n.slot.slot()).containsExactly(0, 1, 2);

        Lockspace fourth = cluster.join("n3").openLockspace(LOCKSPACE, STEP);
        assertThatThrownBy(() -> SlotClaim.claimFirstFree(fourth, 3, STEP).get(10, TimeUnit.SECONDS))
                .hasCauseInstanceOf(SlotClaim.SlotsFullException.class)
                .hasMessageContaining("all 3 node slots").hasMessageContaining("--nodes=3");

        // A clean leave frees the slot for the next node.
        nodes.get(1).slot.release().get(10, TimeUnit.SECONDS);
        assertThat(SlotClaim.claimFirstFree(fourth, 3, STEP).get(10, TimeUnit.SECONDS).slot()).isEqualTo(1);
    }

    @Test
    void claimFirstFree_thirtyTwoNodes_allGetSlots() throws Exception {
        List<Integer> slots = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            Lockspace ls = cluster.join("n" + i).openLockspace(LOCKSPACE, STEP);
            slots.add(SlotClaim.claimFirstFree(ls, 32, STEP).get(10, TimeUnit.SECONDS).slot());
        }
        assertThat(slots).doesNotHaveDuplicates().hasSize(32).allMatch(s -> s >= 0 && s < 32);
    }

    @Test
    void send_completesOnlyAfterEveryOtherNodeProcessedIt_andTheSenderNeverReceivesIt() throws Exception {
        AtomicInteger processing = new AtomicInteger();
        MessageChannel.Receiver slow = m -> CompletableFuture.runAsync(() -> {
            processing.incrementAndGet();
        }, CompletableFuture.delayedExecutor(300, TimeUnit.MILLISECONDS));
        Node a = new Node("a", 4, STEP, slow);
        Node b = new Node("b", 4, STEP, slow);
        Node c = new Node("c", 4, STEP, slow);

        ClusterMessage sent = a.channel.send(ClusterMessage.of(MessageType.METADATA_UPDATED, 0, 1, 0))
                .get(10, TimeUnit.SECONDS);

        assertThat(processing.get()).as("both receivers finished before send completed").isEqualTo(2);
        assertThat(sent.senderSlot()).isEqualTo(a.slot.slot());
        assertThat(b.received).containsExactly(sent);
        assertThat(c.received).containsExactly(sent);
        assertThat(a.received).isEmpty();
        assertThat(a.channel.messagesSent()).isEqualTo(1);
        assertThat(b.channel.messagesReceived()).isEqualTo(1);
    }

    @Test
    void send_fromEveryNodeAtOnce_eachMessageReachesEveryOtherNodeExactlyOnce() throws Exception {
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            nodes.add(node("n" + i));
        }
        int perNode = 15;
        List<CompletableFuture<ClusterMessage>> sends = new ArrayList<>();
        for (int k = 0; k < perNode; k++) {
            for (Node n : nodes) {
                sends.add(n.channel.send(ClusterMessage.resyncing(0, k, k + 1L, 0)));
            }
        }
        CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

        for (Node n : nodes) {
            Map<Integer, List<Long>> lowsBySender = new ConcurrentHashMap<>();
            for (ClusterMessage m : n.received) {
                assertThat(m.senderSlot()).isNotEqualTo(n.slot.slot());
                lowsBySender.computeIfAbsent(m.senderSlot(), s -> new ArrayList<>()).add(m.low());
            }
            assertThat(n.received).hasSize(perNode * (nodes.size() - 1));
            // Each sender's messages arrive once each, in the order it sent them.
            lowsBySender.values().forEach(lows -> assertThat(lows).isSorted().doesNotHaveDuplicates().hasSize(perNode));
        }
        assertThat(log).noneMatch(l -> l.contains("failed"));
    }

    @Test
    void send_aReceiverRefuses_theSendFailsAfterTheAckTimeout_andTheChannelStillWorks() throws Exception {
        AtomicInteger refusals = new AtomicInteger(1);
        Node a = new Node("a", 4, Duration.ofMillis(500), m -> CompletableFuture.completedFuture(null));
        Node b = new Node("b", 4, STEP, m -> refusals.getAndDecrement() > 0
                ? CompletableFuture.failedFuture(new IllegalStateException("cannot see device"))
                : CompletableFuture.completedFuture(null));

        assertThatThrownBy(() -> a.channel.send(ClusterMessage.of(MessageType.REMOVE, 0, 2, 0)).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).hasMessageContaining("every node to process")
                .hasMessageContaining("TIMED_OUT");
        assertThat(log).anyMatch(l -> l.startsWith("b: cluster: not acknowledging") && l.contains("cannot see device"));

        ClusterMessage second = a.channel.send(ClusterMessage.of(MessageType.RE_ADD, 0, 2, 0)).get(10, TimeUnit.SECONDS);
        assertThat(b.received).last().isEqualTo(second);
    }

    @Test
    void send_afterTheTokenHolderCrashed_goesThroughOnceItsLocksAreGone() throws Exception {
        Node a = node("a");
        Node b = node("b");
        Node c = node("c");
        MessageChannel.TokenHold held = a.channel.acquireToken().get(10, TimeUnit.SECONDS);
        CompletableFuture<ClusterMessage> waiting = b.channel.send(ClusterMessage.of(MessageType.METADATA_UPDATED, 0, 0, 0));
        Thread.sleep(100);
        assertThat(waiting).isNotDone();

        cluster.crash(a.manager);   // dies holding the token; its locks go after the fencing grace

        ClusterMessage m = waiting.get(10, TimeUnit.SECONDS);
        assertThat(c.received).containsExactly(m);
        assertThat(held).isNotNull();
    }

    @Test
    void tokenHold_sendsSeveralMessagesInOneHold_andOthersWaitForTheRelease() throws Exception {
        Node a = node("a");
        Node b = node("b");
        MessageChannel.TokenHold hold = a.channel.acquireToken().get(10, TimeUnit.SECONDS);
        CompletableFuture<ClusterMessage> other = b.channel.send(ClusterMessage.of(MessageType.METADATA_UPDATED, 0, 0, 0));
        hold.send(ClusterMessage.resyncing(0, 0, 8, 0)).get(10, TimeUnit.SECONDS);
        hold.send(ClusterMessage.resyncing(0, 8, 16, 0)).get(10, TimeUnit.SECONDS);
        assertThat(other).isNotDone();
        hold.release().get(10, TimeUnit.SECONDS);
        other.get(10, TimeUnit.SECONDS);
        assertThat(b.received).extracting(ClusterMessage::low).containsExactly(0L, 8L);
        assertThat(a.received).hasSize(1);
    }
}
