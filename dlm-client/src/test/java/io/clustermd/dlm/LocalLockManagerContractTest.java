package io.clustermd.dlm;

import io.clustermd.dlm.local.LocalLockCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.util.ArrayList;
import java.util.List;

/** The contract suite on the {@code local} backend (three nodes in this JVM). */
class LocalLockManagerContractTest extends LockManagerContractTest {
    private static LocalLockCluster cluster;
    private static final List<LockManager> NODES = new ArrayList<>();

    @BeforeAll
    static void startCluster() {
        cluster = new LocalLockCluster();
        for (int i = 1; i <= 3; i++) {
            NODES.add(cluster.join("node" + i));
        }
    }

    @AfterAll
    static void stopCluster() {
        cluster.close();
    }

    @Override
    protected List<LockManager> managers() {
        return NODES;
    }

    @Override
    protected java.time.Duration quietPeriod() {
        return java.time.Duration.ofMillis(100);
    }
}
