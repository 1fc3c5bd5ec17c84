package io.clustermd.dlm;

import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.util.ArrayList;
import java.util.List;

/** The contract suite on the {@code zookeeper} backend against one real in-process ZooKeeper server. */
class ZkLockManagerContractTest extends LockManagerContractTest {
    private static TestingServer server;
    private static final List<LockManager> NODES = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        server = new TestingServer(true);
        for (int i = 1; i <= 3; i++) {
            NODES.add(ZkLockManager.start(ZkLockManagerConfig.of(server.getConnectString(), "/contract", "node" + i)));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        NODES.forEach(LockManager::close);
        NODES.clear();
        server.close();
    }

    @Override
    protected List<LockManager> managers() {
        return NODES;
    }

    @Override
    protected int rounds() {
        return 20;
    }
}
