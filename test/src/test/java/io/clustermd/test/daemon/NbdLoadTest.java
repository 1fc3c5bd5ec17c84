package io.clustermd.test.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real daemons started through bin/clustermd, so with the launcher's JVM options (64 MiB heap,
 * 192 MiB of direct memory), flooded by four libnbd clients at once (reads and writes from 4 KiB to
 * 32 MiB, far more in flight than the server takes) and stopped with SIGTERM while they flood.
 * Every reply must be right, the process's peak RSS must stay inside heap + direct memory + the
 * JVM's own, and the stop must finish within the documented bound.
 */
class NbdLoadTest {
    private static final long MIB = 1L << 20;
    /** -Xmx64m + -XX:MaxDirectMemorySize=192m + 128 MiB for the JVM itself (metaspace, code, stacks). */
    private static final long RSS_BUDGET = (64 + 192 + 128) * MIB;
    /** --shutdown-grace (10 s) + 5 s to close connections + a few seconds to stop the rest. */
    private static final Duration STOP_BOUND = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private static Path flooder() {
        return Daemon.ROOT.resolve("nbd-server/src/test/resources/load/nbd_flood.py");
    }

    private static Processes.Result flood(String... args) {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", flooder().toString()));
        cmd.addAll(List.of(args));
        return Processes.run(cmd);
    }

    private static CompletableFuture<Processes.Result> floodAsync(String... args) {
        return CompletableFuture.supplyAsync(() -> flood(args), r -> Thread.ofPlatform().start(r));
    }

    /** Peak RSS so far of a process (VmHWM), in bytes. */
    private static long peakRss(long pid) throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmHWM:")) {
                return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new AssertionError("no VmHWM for " + pid);
    }

    /** Fills the export, floods it from four clients, checks every reply and the peak RSS. */
    private static void floodAndCheck(String uri, long pid) throws Exception {
        Processes.Result fill = flood("fill", uri, "--seed", "1");
        assertThat(fill.exitCode()).as(fill.stdout() + fill.stderr()).isZero();
        List<CompletableFuture<Processes.Result>> clients = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            clients.add(floodAsync("flood", uri, "--seed", "2", "--old-seed", "1", "--op", "mixed", "--rng",
                    Integer.toString(i), "--requests", i == 0 ? "300" : "12000", "--window", "8192", "--sizes",
                    i == 0 ? "4096,1048576,4194304,33554432" : "4096,65536,1048576"));
        }
        for (var c : clients) {
            Processes.Result r = c.get();
            assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isZero();
            assertThat(r.stdout()).contains("\"errors\": 0", "\"mismatches\": 0", "\"unanswered\": 0");
        }
        long rss = peakRss(pid);
        System.out.printf("peak RSS under four floods: %d MiB (budget %d MiB)%n", rss >> 20, RSS_BUDGET >> 20);
        assertThat(rss).isLessThanOrEqualTo(RSS_BUDGET);
    }

    /** SIGTERM while a client floods; returns how long the process took to exit. */
    private static Duration stopUnderFlood(Process p, String uri) throws Exception {
        var flooding = floodAsync("flood", uri, "--seed", "1", "--requests", "200000", "--window", "4096",
                "--timeout", "60");
        Thread.sleep(2000);
        long t0 = System.nanoTime();
        p.destroy();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        System.out.printf("stop under flood took %d ms, exit %d%n", took.toMillis(), p.exitValue());
        assertThat(flooding.get().exitCode()).as("the client learns of the stop").isNotZero();
        return took;
    }

    @Test
    void exportFile_fourFloodingClients_everyReplyRightRssInBudgetAndStopsInBound() throws Exception {
        Path img = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(64 * MIB);
        }
        Path sock = dir.resolve("disk.nbd");
        Process p = new ProcessBuilder(Daemon.ROOT.resolve("bin/clustermd").toString(), "export-file", "-l",
                "unix:" + sock, img.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("export.log").toFile()).start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(sock) || !p.isAlive());
            String uri = "nbd+unix:///?socket=" + sock;
            floodAndCheck(uri, p.pid());
            assertThat(stopUnderFlood(p, uri)).isLessThan(STOP_BOUND);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void run_fourFloodingClientsThroughTheArray_everyReplyRightMirrorsEqualAndStopsInBound() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m-", 2, 80 * MIB);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--name=load"));
        members.forEach(m -> args.add(m.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(err))).as(err.toString()).isZero();
        try (Daemon d = Daemon.start(dir, "load", members)) {
            floodAndCheck(d.nbdUri(), d.pid());
            assertThat(d.check()).as("mismatch_cnt after the floods").isZero();
            var flooding = floodAsync("flood", d.nbdUri(), "--seed", "1", "--requests", "200000", "--window", "4096",
                    "--timeout", "60");
            Thread.sleep(2000);
            long t0 = System.nanoTime();
            assertThat(d.terminate()).isZero();
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            System.out.printf("run: stop under flood took %d ms%n", took.toMillis());
            assertThat(flooding.get().exitCode()).isNotZero();
            assertThat(took).isLessThan(STOP_BOUND);
        }
    }
}
