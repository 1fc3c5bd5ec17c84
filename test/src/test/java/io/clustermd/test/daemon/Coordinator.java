package io.clustermd.test.daemon;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/** A real {@code clustermd coordinator} process (embedded ZooKeeper) on a free loopback port. */
final class Coordinator implements AutoCloseable {

    final int port;
    final Path dataDir;
    final Path log;
    private Process process;

    private Coordinator(int port, Path dataDir, Path log) {
        this.port = port;
        this.dataDir = dataDir;
        this.log = log;
    }

    static Coordinator start(Path dir) throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Coordinator c = new Coordinator(port, Files.createDirectories(dir.resolve("coordinator")),
                dir.resolve("coordinator.log"));
        c.startProcess();
        return c;
    }

    /** The {@code --lock} value for the daemons. */
    String lockUri() {
        return "zk://127.0.0.1:" + port + "/clustermd";
    }

    void startProcess() throws IOException {
        List<String> cmd = List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "coordinator", "--port",
                Integer.toString(port), "--data-dir", dataDir.toString());
        process = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        Process p = process;
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError("coordinator exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return true;
            } catch (IOException e) {
                return false;
            }
        });
    }

    /** {@code kill -9} of the server: its data directory stays, as a restarted server finds it. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
