package io.clustermd.test.daemon;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/** A real {@code clustermd coordinator} process (embedded ZooKeeper) on a free loopback port. */
final class Coordinator implements AutoCloseable {

    final int port;
    final Path dataDir;
    final Path log;
    /** {@code --id} and {@code --server} options of an ensemble member; empty for a lone server. */
    private final List<String> ensembleArgs;
    private Process process;

    private Coordinator(int port, Path dataDir, Path log, List<String> ensembleArgs) {
        this.port = port;
        this.dataDir = dataDir;
        this.log = log;
        this.ensembleArgs = ensembleArgs;
    }

    static Coordinator start(Path dir) throws IOException {
        Coordinator c = new Coordinator(freePort(), Files.createDirectories(dir.resolve("coordinator")),
                dir.resolve("coordinator.log"), List.of());
        c.startProcess();
        return c;
    }

    /**
     * An ensemble of {@code n} coordinator processes ({@code --id}, {@code --server} for each) on
     * loopback, each with its own data directory; returns once every one accepts clients.
     */
    static List<Coordinator> startEnsemble(Path dir, int n) throws IOException {
        List<String> servers = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            servers.add("--server");
            servers.add(i + "=127.0.0.1:" + freePort() + ":" + freePort());
        }
        List<Coordinator> ensemble = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            List<String> args = new ArrayList<>(List.of("--id", Integer.toString(i)));
            args.addAll(servers);
            ensemble.add(new Coordinator(freePort(), Files.createDirectories(dir.resolve("coordinator" + i)),
                    dir.resolve("coordinator" + i + ".log"), args));
        }
        for (Coordinator c : ensemble) {
            c.launch();
        }
        for (Coordinator c : ensemble) {
            c.awaitServing();
        }
        return ensemble;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The {@code --lock} value for the daemons. */
    String lockUri() {
        return "zk://127.0.0.1:" + port + "/clustermd";
    }

    /** The {@code --lock} value listing every server of an ensemble. */
    static String lockUri(List<Coordinator> ensemble) {
        return "zk://" + String.join(",", ensemble.stream().map(c -> "127.0.0.1:" + c.port).toList()) + "/clustermd";
    }

    /** ZooKeeper's {@code srvr} answer's mode: leader, follower or standalone; null when it does not answer. */
    String mode() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            s.setSoTimeout(2000);
            s.getOutputStream().write("srvr".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("Mode: (\\w+)").matcher(answer);
            return m.find() ? m.group(1) : null;
        } catch (IOException e) {
            return null;
        }
    }

    void startProcess() throws IOException {
        launch();
        awaitServing();
    }

    private void launch() throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "coordinator",
                "--port", Integer.toString(port), "--data-dir", dataDir.toString()));
        cmd.addAll(ensembleArgs);
        process = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /** Until the server answers {@code srvr} with a mode (an ensemble member: once a leader is elected). */
    private void awaitServing() {
        Process p = process;
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError("coordinator exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            return mode() != null;
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
