package io.clustermd.daemon;

import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagers;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code clustermd coordinator}: a real embedded ZooKeeper that the zookeeper lock backend uses. */
class CoordinatorCommandTest {

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void coordinator_servesLocksOnLoopback_andStopsCleanly(@TempDir Path dir) throws Exception {
        int port = freePort();
        CoordinatorCommand cmd = new CoordinatorCommand();
        AtomicInteger exit = new AtomicInteger(-1);
        Thread t = new Thread(() -> exit.set(new CommandLine(cmd).execute("--port", Integer.toString(port),
                "--data-dir", dir.resolve("zk").toString())));
        t.start();
        assertThat(cmd.awaitStarted(30_000)).isTrue();
        try (LockManager a = LockManagers.open("zk://127.0.0.1:" + port + "/clustermd", "a");
             LockManager b = LockManagers.open("zk://127.0.0.1:" + port + "/clustermd", "b")) {
            var la = a.openLockspace("ls").newLock("r");
            assertThat(la.lock(LockMode.EX).get(30, TimeUnit.SECONDS).granted()).isTrue();
            var wait = b.openLockspace("ls").newLock("r").lock(LockMode.EX);
            la.unlock().get(30, TimeUnit.SECONDS);
            LockResult r = wait.get(30, TimeUnit.SECONDS);
            assertThat(r.granted()).isTrue();
        }
        cmd.stop();
        t.join(30_000);
        assertThat(exit.get()).isZero();
        assertThat(Files.list(dir.resolve("zk"))).isNotEmpty();
    }

    @Test
    void coordinator_portInUse_refusedWithHint(@TempDir Path dir) throws Exception {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            StringWriter err = new StringWriter();
            int code = new CommandLine(new CoordinatorCommand()).setErr(new PrintWriter(err))
                    .execute("--port", Integer.toString(busy.getLocalPort()), "--data-dir", dir.toString());
            assertThat(code).isNotZero();
            assertThat(err.toString()).contains("is not free").contains("--port");
        }
    }
}
