package io.clustermd.dlm;

import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.IntSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The contract suite on the {@code zookeeper} backend against a real 3-server ZooKeeper ensemble;
 * one server is killed in the middle of the many-lockers test (while locks change hands) and stays
 * dead for every later test: no node may be fenced, no lock may overlap, every request completes.
 */
class ZkEnsembleContractTest extends LockManagerContractTest {
    private static TestingCluster ensemble;
    private static final List<LockManager> NODES = new ArrayList<>();
    private static final List<String> FENCED = new CopyOnWriteArrayList<>();
    private static volatile boolean killed;

    @BeforeAll
    static void start() throws Exception {
        ensemble = new TestingCluster(3);
        ensemble.start();
        for (int i = 1; i <= 3; i++) {
            ZkLockManager m = ZkLockManager.start(ZkLockManagerConfig.of(ensemble.getConnectString(), "/ensemble", "node" + i)
                    .withTimings(Duration.ofSeconds(30), Duration.ofSeconds(2), Duration.ofMillis(500)));
            m.addListener(new LockManagerListener() {
                @Override
                public void selfFenced(String reason) {
                    FENCED.add(reason);
                }
            });
            NODES.add(m);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        NODES.forEach(LockManager::close);
        NODES.clear();
        ensemble.close();
        assertThat(FENCED).as("no node may fence itself while the ensemble keeps a quorum").isEmpty();
    }

    @Override
    protected List<LockManager> managers() {
        return NODES;
    }

    @Override
    protected int rounds() {
        return 30;
    }

    @Override
    protected void duringManyLockers(IntSupplier progress, int total) throws Exception {
        if (killed) {
            return;
        }
        await().atMost(WAIT).until(() -> progress.getAsInt() >= total / 3);
        // Kill the server node1 is connected to (a session id's top byte names the server that made it).
        long serverId = ((ZkLockManager) NODES.get(0)).sessionId() >>> 56;
        InstanceSpec victim = ensemble.getInstances().stream().filter(i -> i.getServerId() == serverId).findFirst()
                .orElseThrow();
        assertThat(ensemble.killServer(victim)).isTrue();
        killed = true;
        int at = progress.getAsInt();
        // Locking goes on through the failover.
        await().atMost(Duration.ofMinutes(2)).until(() -> progress.getAsInt() >= Math.min(total, at + 6));
    }
}
