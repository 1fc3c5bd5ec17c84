package io.clustermd.dlm;

import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The daemon's {@code --lock} URI. */
class LockManagersTest {

    @Test
    void parse_zkUriWithEnsembleAndChroot_givesServersAndChroot() {
        ZkLockManagerConfig c = ZkLockManagerConfig.parse("zk://10.0.0.1:2181,10.0.0.2:2181,[::1]:2182/clusters/a", "n1");
        assertThat(c.connectString()).isEqualTo("10.0.0.1:2181,10.0.0.2:2181,[::1]:2182");
        assertThat(c.chroot()).isEqualTo("/clusters/a");
        assertThat(c.nodeName()).isEqualTo("n1");
        assertThat(ZkLockManagerConfig.parse("zk://127.0.0.1:2181", "n").chroot()).isEqualTo("/clustermd");
        assertThat(ZkLockManagerConfig.parse("zk://127.0.0.1:2181/", "n").chroot()).isEqualTo("/clustermd");
    }

    @Test
    void parse_badUris_refusedWithWhatToWrite() {
        assertThatThrownBy(() -> LockManagers.open(null, "n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--lock zk://");
        assertThatThrownBy(() -> LockManagers.open("etcd://x:1", "n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown lock manager");
        assertThatThrownBy(() -> ZkLockManagerConfig.parse("zk:///x", "n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("names no ZooKeeper server");
        assertThatThrownBy(() -> ZkLockManagerConfig.parse("zk://host/x", "n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("HOST:PORT");
        assertThatThrownBy(() -> ZkLockManagerConfig.parse("zk://host:99999/x", "n"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bad port");
        assertThatThrownBy(() -> ZkLockManagerConfig.parse("zk://h:1/a//b", "n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("chroot");
    }

    @Test
    void open_zkUri_givesWorkingManagerUnderChroot() throws Exception {
        try (TestingServer server = new TestingServer(true);
             LockManager m = LockManagers.open("zk://" + server.getConnectString() + "/from-uri", "n1")) {
            assertThat(m.backend()).isEqualTo("zookeeper");
            assertThat(m.nodeId()).startsWith("n1-");
            LockResult r = m.openLockspace("ls").newLock("r").lock(LockMode.EX).get(30, TimeUnit.SECONDS);
            assertThat(r.granted()).isTrue();
        }
    }

    @Test
    void open_unreachableServer_failsWithClearMessage() {
        assertThatThrownBy(() -> LockManagers.open("zk://127.0.0.1:1/x", "n")
                ).isInstanceOf(IllegalStateException.class).hasMessageContaining("cannot reach ZooKeeper");
    }
}
