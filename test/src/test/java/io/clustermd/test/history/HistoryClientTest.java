package io.clustermd.test.history;

import io.clustermd.test.Processes;
import io.clustermd.test.history.HistoryChecker.Report;
import io.clustermd.test.history.HistoryChecker.Rule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code history_client.py} against real NBD servers (nbdkit), its history checked by
 * {@link HistoryChecker}: two "nodes" on one memory disk; two nbdkit servers on one file, one of
 * them killed and started again on its socket while the client runs; and, to show the checker
 * sees a broken array, two nodes on separate disks.
 */
class HistoryClientTest {

    static final Path ROOT = Path.of(System.getProperty("clustermd.root", "..")).toAbsolutePath().normalize();
    static final Path CLIENT = ROOT.resolve("test/src/test/resources/history_client.py");
    static final int BLOCKS = 256;

    @TempDir
    Path dir;

    @Test
    void run_twoNodesOnOneMemoryDisk_historyPassesTheChecker() throws Exception {
        Path sock = dir.resolve("memory.nbd");
        Process server = nbdkit(sock, "memory", "64M");
        try {
            String uri = uri(sock);
            Path out = dir.resolve("history.jsonl");
            Processes.Result r = client("--uris", uri + "," + uri, "--blocks", Integer.toString(BLOCKS),
                    "--seconds", "3", "--seed", "7", "--out", out.toString(),
                    "--control-dir", Files.createDirectories(dir.resolve("control")).toString());
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            assertThat(r.stdout()).matches("DONE writes=[1-9][0-9]* reads=[1-9][0-9]* failed=0\\s*");
            Processes.Result fin = client("--final-read", "--uris", uri + "," + uri, "--blocks",
                    Integer.toString(BLOCKS), "--out", out.toString());
            assertThat(fin.exitCode()).as(fin.stderr()).isZero();
            assertThat(fin.stdout()).contains("reads=" + 2 * BLOCKS + " failed=0");

            Report report = HistoryChecker.check(History.load(out));

            System.out.println("history client, one memory disk: " + report.summary());
            assertThat(report.ok()).as(report.describe(20)).isTrue();
            assertThat(report.writesAcknowledged()).isPositive();
            assertThat(report.writesUnfinished()).isZero();
            assertThat(report.readsChecked()).isGreaterThan(2 * BLOCKS);
            assertThat(report.blocks()).isEqualTo(BLOCKS);
        } finally {
            stop(server);
        }
    }

    @Test
    void run_twoNodesOnSeparateDisks_checkerReportsLostWrites() throws Exception {
        Path sock0 = dir.resolve("a.nbd");
        Path sock1 = dir.resolve("b.nbd");
        Process a = nbdkit(sock0, "memory", "16M");
        Process b = nbdkit(sock1, "memory", "16M");
        try {
            Path out = dir.resolve("history.jsonl");
            Processes.Result r = client("--uris", uri(sock0) + "," + uri(sock1), "--blocks", "16",
                    "--seconds", "1", "--seed", "3", "--out", out.toString(),
                    "--control-dir", Files.createDirectories(dir.resolve("control")).toString());
            assertThat(r.exitCode()).as(r.stderr()).isZero();

            Report report = HistoryChecker.check(History.load(out));

            assertThat(report.violations()).extracting(HistoryChecker.Violation::rule)
                    .as("writes through one node are not seen through the other").contains(Rule.LOST_WRITE);
        } finally {
            stop(a);
            stop(b);
        }
    }

    @Test
    void run_nodeKilledAndStartedAgain_clientReconnectsAndHistoryPassesTheChecker() throws Exception {
        Path disk = dir.resolve("disk.img");
        try (var f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Path sock0 = dir.resolve("node0.nbd");
        Path sock1 = dir.resolve("node1.nbd");
        Path control = Files.createDirectories(dir.resolve("control"));
        Path out = dir.resolve("history.jsonl");
        History events = new History();
        List<Process> servers = new ArrayList<>(List.of(nbdkit(sock0, "file", disk.toString()),
                nbdkit(sock1, "file", disk.toString())));
        try {
            String uris = uri(sock0) + "," + uri(sock1);
            CompletableFuture<Processes.Result> running = CompletableFuture.supplyAsync(() -> client("--uris", uris,
                    "--blocks", "64", "--seconds", "4", "--seed", "11", "--out", out.toString(),
                    "--control-dir", control.toString(), "--threads-per-node", "3"));
            Thread.sleep(1000);
            Process killed = servers.get(1);
            killed.destroyForcibly();
            killed.waitFor(10, TimeUnit.SECONDS);
            events.killed(1, System.nanoTime());
            Files.deleteIfExists(sock1);
            Thread.sleep(500);
            // the event first, then the client's signal: no write of a held block begins before it
            events.recovered(1, System.nanoTime());
            Files.writeString(control.resolve("recovered-1"), "1\n");
            long restarted = System.nanoTime();
            servers.set(1, nbdkit(sock1, "file", disk.toString()));

            Processes.Result r = running.get(60, TimeUnit.SECONDS);
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            Processes.Result fin = client("--final-read", "--uris", uris, "--blocks", "64", "--out", out.toString());
            assertThat(fin.exitCode()).as(fin.stderr()).isZero();

            History history = History.load(out);
            events.events().forEach(history::add);
            Report report = HistoryChecker.check(history);

            System.out.println("history client, a node killed: " + report.summary() + "; " + r.stdout().strip());
            assertThat(report.ok()).as(report.describe(20)).isTrue();
            assertThat(history.writes().stream().anyMatch(w -> !w.ok() && w.node() == 1)
                    || history.reads().stream().anyMatch(rd -> !rd.ok() && rd.node() == 1))
                    .as("node 1's connections failed when it was killed").isTrue();
            assertThat(history.writes()).as("node 1 wrote again after it was started again")
                    .anyMatch(w -> w.ok() && w.node() == 1 && w.t0() > restarted);
        } finally {
            servers.forEach(HistoryClientTest::stop);
        }
    }

    static String uri(Path sock) {
        return "nbd+unix:///?socket=" + sock;
    }

    static Processes.Result client(String... args) {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", CLIENT.toString()));
        cmd.addAll(List.of(args));
        return Processes.run(cmd);
    }

    /** Starts nbdkit in the foreground on a unix socket and waits until the socket exists. */
    static Process nbdkit(Path sock, String... pluginAndArgs) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("nbdkit", "-f", "--exit-with-parent", "-U", sock.toString()));
        cmd.addAll(List.of(pluginAndArgs));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(sock.resolveSibling(sock.getFileName() + ".log").toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("cannot run nbdkit (" + e.getMessage() + "): scripts/packages lists it "
                    + "in the test group, scripts/test installs it", e);
        }
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError("nbdkit exited with " + p.exitValue() + ": "
                        + Files.readString(sock.resolveSibling(sock.getFileName() + ".log")));
            }
            return Files.exists(sock);
        });
        return p;
    }

    static void stop(Process p) {
        p.destroy();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
