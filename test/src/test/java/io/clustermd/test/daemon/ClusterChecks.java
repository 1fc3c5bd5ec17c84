package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.test.Processes;
import io.clustermd.test.history.History;
import io.clustermd.test.history.HistoryChecker;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** What the cluster tests ask of running nodes and member files, through the tools a user has. */
final class ClusterChecks {

    private ClusterChecks() {
    }

    static Processes.Result ok(Processes.Result r) {
        assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isZero();
        return r;
    }

    /** Member file name -> state, as the node sees it. */
    static TreeMap<String, String> states(Daemon d) throws Exception {
        TreeMap<String, String> out = new TreeMap<>();
        for (JsonNode m : d.status().get("members")) {
            out.put(Path.of(m.get("path").asText()).getFileName().toString(), m.get("state").asText());
        }
        return out;
    }

    static void awaitStates(List<Daemon> nodes, String expected) {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
            for (Daemon d : nodes) {
                assertThat(states(d).toString()).as(d.name + " in " + d.runDir).isEqualTo(expected);
            }
        });
    }

    /** {@code clusterctl status}: the node's /proc/mdstat. */
    static String mdstat(Daemon d) {
        return ok(d.ctlHere("status")).stdout();
    }

    /** Writes {@code bytes} of seeded random data at 0 through {@code d} with nbdcopy; returns them. */
    static byte[] writeThrough(Path dir, Daemon d, int bytes, long seed) throws Exception {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        Path src = dir.resolve("data-" + seed + ".bin");
        Files.write(src, data);
        ok(Processes.run(List.of("nbdcopy", "--", src.toString(), d.nbdUri())));
        return data;
    }

    /** The first {@code bytes} of the array through {@code d} with nbdcopy. */
    static byte[] readThrough(Path dir, Daemon d, int bytes) throws Exception {
        Path out = dir.resolve("read-" + System.nanoTime() + ".raw");
        ok(Processes.run(List.of("nbdcopy", d.nbdUri(), out.toString())));
        byte[] all = Files.readAllBytes(out);
        Files.delete(out);
        return java.util.Arrays.copyOf(all, bytes);
    }

    /** {@code clusterctl ARGS} in this JVM: exit code, stdout, stderr. */
    static String[] ctlOffline(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        return new String[] {Integer.toString(rc), out.toString(), err.toString()};
    }

    /** The system's {@code mdadm --examine}. */
    static String examine(Path member) {
        return ok(Processes.run(List.of("mdadm", "--examine", member.toString()))).stdout();
    }

    static final Path HISTORY_CLIENT = Daemon.ROOT.resolve("test/src/test/resources/history_client.py");

    /**
     * Ends a history client run: asks it to stop (its control directory), waits for it (exit 0),
     * lets every node get idle, reads every block through every node ({@code --final-read}), adds
     * the test's own events (kills, recoveries) and checks the whole history against the contract.
     */
    static HistoryChecker.Report stopAndCheckHistory(Process client, Path control, Path clientLog, List<Daemon> nodes,
                                                     int blocks, Path history, History events) throws Exception {
        Files.writeString(control.resolve("stop"), "");
        assertThat(client.waitFor(60, TimeUnit.SECONDS)).as("client stopped within 60 s; log in %s", clientLog)
                .isTrue();
        assertThat(client.exitValue()).as(Files.readString(clientLog)).isZero();
        for (Daemon d : nodes) {
            d.awaitIdle();
        }
        Processes.Result fin = Processes.run(List.of("/usr/bin/python3", HISTORY_CLIENT.toString(), "--final-read",
                "--uris", String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks",
                Integer.toString(blocks), "--out", history.toString()));
        assertThat(fin.exitCode()).as(fin.stdout() + fin.stderr()).isZero();
        History h = History.load(history);
        events.events().forEach(h::add);
        HistoryChecker.Report report = HistoryChecker.check(h);
        System.out.println("history: " + report.summary());
        assertThat(report.ok()).as(report.describe(20)).isTrue();
        return report;
    }
}
