package io.clustermd.dlm.local;

import io.clustermd.dlm.FencedException;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockManagerListener;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Node death and isolation in the {@code local} backend; events delivered synchronously (deterministic). */
class LocalDeathTest {
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final LocalLockCluster cluster = new LocalLockCluster(scheduler, name -> Runnable::run, Duration.ofMillis(300));

    @AfterEach
    void stop() {
        cluster.close();
        scheduler.shutdownNow();
    }

    private static LockResult get(CompletableFuture<LockResult> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    @Test
    void crash_holdersLocksReleasedOnlyAfterGrace_lvbItHeldExNotValid() throws Exception {
        LocalLockManager a = cluster.join("a");
        LocalLockManager b = cluster.join("b");
        List<String> left = new CopyOnWriteArrayList<>();
        b.addListener(new LockManagerListener() {
            @Override
            public void nodeLeft(String nodeId, boolean failed) {
                left.add(nodeId + " " + failed);
            }
        });
        LockHandle ah = a.openLockspace("ls").newLock("r");
        assertThat(get(ah.lock(LockMode.EX)).granted()).isTrue();
        ah.setLvb(new byte[32]);
        get(ah.convert(LockMode.EX, LockFlag.VALBLK));
        CompletableFuture<LockResult> waiting = b.openLockspace("ls").newLock("r").lock(LockMode.PR, LockFlag.VALBLK);
        long crashedAt = System.nanoTime();
        cluster.crash(a);
        LockResult r = get(waiting);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - crashedAt)).isGreaterThanOrEqualTo(290);
        assertThat(r.granted()).isTrue();
        assertThat(r.valNotValid()).isTrue();
        await().atMost(Duration.ofSeconds(30)).until(() -> !left.isEmpty());
        assertThat(left).containsExactly("a true");
        assertThat(cluster.members()).containsExactly("b");
    }

    @Test
    void isolate_nodeToldSelfFencedFirst_thenLocksGoToOthers() throws Exception {
        LocalLockManager a = cluster.join("a");
        LocalLockManager b = cluster.join("b");
        List<String> order = new CopyOnWriteArrayList<>();
        a.addListener(new LockManagerListener() {
            @Override
            public void selfFenced(String reason) {
                order.add("a fenced");
            }
        });
        Lockspace als = a.openLockspace("ls");
        LockHandle ah = als.newLock("r");
        get(ah.lock(LockMode.PW));
        CompletableFuture<LockResult> waiting = b.openLockspace("ls").newLock("r").lock(LockMode.EX);
        waiting.thenRun(() -> order.add("b granted"));
        cluster.isolate(a);
        await().atMost(Duration.ofSeconds(30)).until(() -> order.size() == 2);
        assertThat(order).containsExactly("a fenced", "b granted");
        assertThat(ah.grantedMode()).isNull();
        assertThatThrownBy(() -> ah.lock(LockMode.EX)).isInstanceOf(FencedException.class);
        assertThatThrownBy(() -> a.openLockspace("other")).isInstanceOf(FencedException.class);
    }

    @Test
    void cleanClose_releasesLocksWithoutInvalidatingLvb() throws Exception {
        LocalLockManager a = cluster.join("a");
        LocalLockManager b = cluster.join("b");
        LockHandle ah = a.openLockspace("ls").newLock("r");
        get(ah.lock(LockMode.EX));
        byte[] v = new byte[32];
        v[0] = 7;
        ah.setLvb(v);
        get(ah.convert(LockMode.EX, LockFlag.VALBLK));
        CompletableFuture<LockResult> waiting = b.openLockspace("ls").newLock("r").lock(LockMode.EX, LockFlag.VALBLK);
        a.close();
        LockResult r = get(waiting);
        assertThat(r.valNotValid()).isFalse();
        assertThat(r.lvb()).isEqualTo(v);
        assertThatThrownBy(() -> cluster.join("b")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("already a member");
        assertThat(LockStatus.values()).contains(LockStatus.UNLOCKED);
    }
}
