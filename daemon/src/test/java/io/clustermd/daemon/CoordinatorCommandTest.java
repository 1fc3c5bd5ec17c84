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

    /** Ensemble options that cannot make an ensemble are refused, saying which, and create nothing. */
    @Test
    void coordinator_badEnsembleOptions_refusedSayingWhat_nothingCreated(@TempDir Path dir) throws Exception {
        String[][] cases = {
                {"--id", "1"},
                {"--server", "1=127.0.0.1:2888:3888"},
                {"--id", "1", "--server", "1=127.0.0.1:2888"},
                {"--id", "1", "--server", "1=127.0.0.1:2888:2888"},
                {"--id", "4", "--server", "1=127.0.0.1:2888:3888", "--server", "2=127.0.0.1:2889:3889"},
                {"--id", "1", "--server", "1=127.0.0.1:2888:3888", "--server", "1=127.0.0.1:2889:3889"},
        };
        String[] says = {"needs both --id", "needs both --id", "is not N=HOST:PEER_PORT:ELECTION_PORT",
                "the two ports different", "is not among the --server numbers", "must be distinct"};
        for (int i = 0; i < cases.length; i++) {
            StringWriter err = new StringWriter();
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--port",
                    Integer.toString(freePort()), "--data-dir", dir.resolve("zk" + i).toString()));
            args.addAll(java.util.List.of(cases[i]));
            int code = new CommandLine(new CoordinatorCommand()).setErr(new PrintWriter(err))
                    .execute(args.toArray(String[]::new));
            assertThat(code).as(String.join(" ", cases[i])).isEqualTo(2);
            assertThat(err.toString()).as(String.join(" ", cases[i])).contains(says[i]);
            assertThat(dir.resolve("zk" + i)).doesNotExist();
        }
    }

    /** A data directory whose myid names another ensemble server is refused (its log is that server's). */
    @Test
    void coordinator_dataDirOfAnotherServer_refused(@TempDir Path dir) throws Exception {
        Path data = Files.createDirectories(dir.resolve("zk"));
        Files.writeString(data.resolve("myid"), "2\n");
        StringWriter err = new StringWriter();
        int code = new CommandLine(new CoordinatorCommand()).setErr(new PrintWriter(err)).execute("--port",
                Integer.toString(freePort()), "--data-dir", data.toString(), "--id", "1",
                "--server", "1=127.0.0.1:" + freePort() + ":" + freePort(),
                "--server", "2=127.0.0.1:" + freePort() + ":" + freePort(),
                "--server", "3=127.0.0.1:" + freePort() + ":" + freePort());
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("belongs to ensemble server 2", "own directory");
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
