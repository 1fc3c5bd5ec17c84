package io.clustermd.dlm;

import io.clustermd.dlm.support.LockHolderProcess;
import io.clustermd.dlm.support.TcpProxy;
import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Node death and partition on the {@code zookeeper} backend, with real processes and sockets:
 * a holder JVM killed with SIGKILL, a client cut off by a dropped TCP connection, and a stopped
 * server.
 */
class ZkDeathTest {
    private static final Duration SESSION = Duration.ofSeconds(6);
    private static final Duration GRACE = Duration.ofSeconds(1);

    private TestingServer server;
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private Process child;

    @BeforeEach
    void start() throws Exception {
        server = new TestingServer(true);
    }

    @AfterEach
    void stop() throws Exception {
        if (child != null && child.isAlive()) {
            child.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        for (AutoCloseable c : toClose.reversed()) {
            try {
                c.close();
            } catch (Exception ignored) {
                // best effort
            }
        }
        server.close();
    }

    private ZkLockManager manager(String connect, String name, List<String> events) {
        ZkLockManager m = ZkLockManager.start(ZkLockManagerConfig.of(connect, "/death", name)
                .withTimings(SESSION, GRACE, Duration.ofMillis(500)));
        m.addListener(new LockManagerListener() {
            @Override
            public void nodeLeft(String nodeId, boolean failed) {
                events.add("left " + nodeId + " " + failed);
            }

            @Override
            public void selfFenced(String reason) {
                events.add("fenced " + System.nanoTime());
            }

            @Override
            public void rejoined(String newNodeId) {
                events.add("rejoined " + newNodeId);
            }
        });
        toClose.add(m);
        return m;
    }

    private static LockResult get(CompletableFuture<LockResult> f) throws Exception {
        return f.get(120, TimeUnit.SECONDS);
    }

    @Test
    void holderProcessKilled_locksReleasedAfterSessionExpiryAndGrace_lvbNotValid() throws Exception {
        // 1. A holder in another JVM takes EX and writes the LVB.
        String java = ProcessHandle.current().info().command().orElse("java");
        child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                LockHolderProcess.class.getName(), server.getConnectString(), "/death", "ls", "r",
                Long.toString(SESSION.toMillis()))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        while (line != null && !line.startsWith("HELD ") && !line.startsWith("NOT GRANTED")) {
            line = out.readLine(); // the holder's log lines
        }
        assertThat(line).startsWith("HELD ");
        String holderId = line.split(" ")[1];
        long holderSessionMs = Long.parseLong(line.split(" ")[2]);

        // 2. A survivor waits for EX.
        List<String> events = new CopyOnWriteArrayList<>();
        ZkLockManager survivor = manager(server.getConnectString(), "survivor", events);
        Lockspace ls = survivor.openLockspace("ls", Duration.ofMinutes(2));
        LockHandle h = ls.newLock("r");
        CompletableFuture<LockResult> waiting = h.lock(LockMode.EX, LockFlag.VALBLK);
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> !waiting.isDone());

        // 3. SIGKILL the holder.
        long killedAt = System.nanoTime();
        child.destroyForcibly();
        assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();

        // 4. The lock is granted only after the holder's session expired (at least 2/3 of its timeout
        //    after its last ping) plus the grace, and the LVB it held EX is not valid.
        LockResult r = get(waiting);
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
        assertThat(r.status()).isEqualTo(LockStatus.GRANTED);
        assertThat(r.valNotValid()).isTrue();
        assertThat(r.lvb()).isEqualTo(Arrays.copyOf("written-by-holder".getBytes(StandardCharsets.UTF_8), 32));
        assertThat(waitedMs).isGreaterThanOrEqualTo(holderSessionMs * 2 / 3 + GRACE.toMillis() - 100);
        await().atMost(Duration.ofSeconds(30)).until(() -> events.contains("left " + holderId + " true"));
    }

    @Test
    void clientCutOff_fencesItselfBeforeItsSessionCouldExpire_othersGetLockAfterwards_thenRejoins() throws Exception {
        TcpProxy proxy = new TcpProxy(server.getPort());
        toClose.add(proxy);
        List<String> aEvents = new CopyOnWriteArrayList<>();
        ZkLockManager a = manager("127.0.0.1:" + proxy.port(), "cutoff", aEvents);
        ZkLockManager b = manager(server.getConnectString(), "other", new CopyOnWriteArrayList<>());
        String aFirstId = a.nodeId();
        Lockspace aLs = a.openLockspace("ls", Duration.ofMinutes(2));
        LockHandle ah = aLs.newLock("r");
        assertThat(get(ah.lock(LockMode.EX)).granted()).isTrue();
        Lockspace bLs = b.openLockspace("ls", Duration.ofMinutes(2));
        LockHandle bh = bLs.newLock("r");
        AtomicLong grantedAt = new AtomicLong();
        CompletableFuture<LockResult> bWaits = bh.lock(LockMode.EX, LockFlag.VALBLK)
                .whenComplete((res, t) -> grantedAt.set(System.nanoTime()));
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> !bWaits.isDone());

        // 1. Cut a off.
        long cutAt = System.nanoTime();
        proxy.cut();

        // 2. a fences itself well before a session timeout has passed since the cut.
        await().atMost(Duration.ofSeconds(30)).until(() -> aEvents.stream().anyMatch(e -> e.startsWith("fenced")));
        long fencedAt = aEvents.stream().filter(e -> e.startsWith("fenced")).mapToLong(e -> Long.parseLong(e.split(" ")[1]))
                .findFirst().orElseThrow();
        long sessionMs = a.negotiatedSessionTimeout().toMillis();
        assertThat(TimeUnit.NANOSECONDS.toMillis(fencedAt - cutAt)).isLessThan(sessionMs * 2 / 3);
        assertThatThrownBy(() -> ah.lock(LockMode.NL, LockFlag.CONVERT)).isInstanceOf(FencedException.class);
        assertThatThrownBy(() -> aLs.newLock("x")).isInstanceOf(FencedException.class);

        // 3. b gets the lock only after a's session expired on the server plus the grace: after a
        //    stopped writing. The LVB is not valid (a held EX).
        LockResult r = get(bWaits);
        assertThat(r.granted()).isTrue();
        assertThat(r.valNotValid()).isTrue();
        assertThat(grantedAt.get()).isGreaterThan(fencedAt);
        // The server heard a's last ping at most a third of the session timeout before the cut.
        assertThat(TimeUnit.NANOSECONDS.toMillis(grantedAt.get() - cutAt))
                .isGreaterThanOrEqualTo(sessionMs * 2 / 3 + GRACE.toMillis() - 100);

        // 4. The network comes back: a rejoins as a new member and can lock again.
        proxy.restore();
        await().atMost(Duration.ofSeconds(60)).until(() -> aEvents.stream().anyMatch(e -> e.startsWith("rejoined")));
        assertThat(a.nodeId()).isNotEqualTo(aFirstId);
        Lockspace again = a.openLockspace("ls", Duration.ofMinutes(2));
        CompletableFuture<LockResult> aWaits = again.newLock("r").lock(LockMode.EX);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> !aWaits.isDone());
        get(bh.unlock());
        assertThat(get(aWaits).granted()).isTrue();
    }

    @Test
    void serverStopped_clientFencesItselfBeforeSessionTimeout_andRejoinsWhenItIsBack() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        ZkLockManager a = manager(server.getConnectString(), "lonely", events);
        Lockspace ls = a.openLockspace("ls", Duration.ofMinutes(2));
        LockHandle held = ls.newLock("r");
        assertThat(get(held.lock(LockMode.EX)).granted()).isTrue();
        LockHandle other = ls.newLock("r");
        AtomicReference<LockResult> pendingResult = new AtomicReference<>();
        other.lock(LockMode.EX).whenComplete((res, t) -> pendingResult.set(res));
        long sessionMs = a.negotiatedSessionTimeout().toMillis();

        long stoppedAt = System.nanoTime();
        server.stop();
        await().atMost(Duration.ofSeconds(30)).until(() -> events.stream().anyMatch(e -> e.startsWith("fenced")));
        long fencedAt = events.stream().filter(e -> e.startsWith("fenced")).mapToLong(e -> Long.parseLong(e.split(" ")[1]))
                .findFirst().orElseThrow();
        assertThat(TimeUnit.NANOSECONDS.toMillis(fencedAt - stoppedAt)).isLessThan(sessionMs * 2 / 3);
        // The pending request failed with the fence; the held lock counts as lost.
        await().atMost(Duration.ofSeconds(10)).until(() -> pendingResult.get() != null);
        assertThat(pendingResult.get().status()).isEqualTo(LockStatus.FAILED);
        assertThat(pendingResult.get().cause()).isInstanceOf(FencedException.class);
        assertThat(held.grantedMode()).isNull();

        server.restart();
        await().atMost(Duration.ofSeconds(60)).until(() -> events.stream().anyMatch(e -> e.startsWith("rejoined")));
        Lockspace again = a.openLockspace("ls", Duration.ofMinutes(2));
        // The old incarnation's locks were removed when it rejoined (its session survived the restart).
        assertThat(get(again.newLock("r").lock(LockMode.EX)).granted()).isTrue();
    }
}
