package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.test.Processes;
import io.clustermd.test.history.History;
import io.clustermd.test.history.HistoryChecker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The cluster as users run it on one machine: {@code clustermd coordinator} (embedded ZooKeeper)
 * and three {@code clustermd run} processes sharing two member files, each with its own run
 * directory and NBD socket; real NBD clients (libnbd through {@code history_client.py}), real
 * {@code kill -9}, and the system's mdadm reading the members after every scenario. Ports of
 * mdadm's {@code clustermd_tests} where one exists.
 */
class ClusterDaemonTest {

    static final long MIB = 1L << 20;
    static final Path CLIENT = Daemon.ROOT.resolve("test/src/test/resources/history_client.py");

    /** Kept when a test fails: the daemons' and the client's logs are there. */
    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS)
    Path dir;

    private final List<Path> members = new ArrayList<>();
    private final List<AutoCloseable> running = new ArrayList<>();

    @AfterEach
    void stopAllAndExamine() throws Exception {
        for (int i = running.size() - 1; i >= 0; i--) {
            running.get(i).close();
        }
        for (Path p : members) {
            Processes.Result mdadm = Processes.run(List.of("mdadm", "--examine", p.toString()));
            assertThat(mdadm.exitCode()).as(mdadm.stdout() + mdadm.stderr()).isZero();
            assertThat(mdadm.stdout()).contains("Feature Map : 0x101", "Cluster Name : test");
        }
    }

    private List<Path> createClustered(long size, String... extra) {
        List<Path> paths = MemberFiles.sparse(dir, "m-", 2, size);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=clustered",
                "--nodes=4", "--home-cluster=test", "--name=shared"));
        args.addAll(List.of(extra));
        paths.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err));
        assertThat(rc).as(err.toString()).isZero();
        members.addAll(paths);
        return paths;
    }

    private Coordinator coordinator() throws Exception {
        Coordinator c = Coordinator.start(dir);
        running.add(c);
        return c;
    }

    private Daemon node(Coordinator c, int n, List<Path> paths, String... extra) throws Exception {
        return node(c.lockUri(), n, paths, extra);
    }

    private Daemon node(String lockUri, int n, List<Path> paths, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("--lock", lockUri, "--node-name", "node" + n));
        args.addAll(List.of(extra));
        Daemon d = Daemon.start(dir.resolve("node" + n), "shared", paths, args.toArray(String[]::new));
        running.add(d);
        return d;
    }

    private static String syncText(Daemon d) throws Exception {
        JsonNode sync = d.status().get("sync");
        return sync.get("action").asText() + (sync.hasNonNull("waiting") ? "=" + sync.get("waiting").asText() : "");
    }

    /**
     * mdadm's 00r1_Create: the first node resyncs the new array, the others show PENDING meanwhile,
     * and in the end every node shows [UU] and idle. With --assume-clean nobody syncs.
     */
    @Test
    void create_firstNodeResyncs_othersPending_thenEveryNodeInSync() throws Exception {
        List<Path> paths = createClustered(256 * MIB);
        Coordinator c = coordinator();
        Daemon first = node(c, 1, paths, "--speed-limit-max", "20000", "--speed-limit-min", "20000");
        Daemon second = node(c, 2, paths);
        Daemon third = node(c, 3, paths);
        assertThat(syncText(first)).isEqualTo("resync");
        await().atMost(Duration.ofSeconds(20)).until(() -> syncText(second).equals("resync=pending")
                && syncText(third).equals("resync=pending"));
        for (Daemon d : List.of(first, second, third)) {
            d.awaitIdle();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> syncText(second).equals("idle"));
        for (Daemon d : List.of(first, second, third)) {
            JsonNode s = d.status();
            assertThat(s.get("members")).allMatch(m -> m.get("state").asText().equals("in_sync"));
            assertThat(s.get("cluster").get("nodes")).hasSize(3);
            assertThat(d.ctl("status").stdout()).contains("[2/2] [UU]");
        }
        assertThat(first.logText()).contains("resync of 4 chunk(s) started");
        assertThat(second.logText() + third.logText()).doesNotContain("resync of");
    }

    @Test
    void create_assumeClean_noNodeSyncs() throws Exception {
        List<Path> paths = createClustered(128 * MIB, "--assume-clean");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, paths), node(c, 2, paths));
        for (Daemon d : nodes) {
            assertThat(syncText(d)).isEqualTo("idle");
            assertThat(d.logText()).doesNotContain("resync of");
        }
    }

    /**
     * Three nodes write into shared bitmap chunks (a block passes between nodes only once
     * acknowledged); one is killed with SIGKILL mid-write. A survivor takes over exactly the dead
     * node's dirty chunks and resyncs them, the killed node restarts and rejoins, and the whole
     * history of writes and reads on every node satisfies the consistency contract; check finds
     * no mismatch and every node reads the same bytes.
     */
    @Test
    void canRecoverAfterNodeCrash_onlyItsDirtyChunks_historyHolds() throws Exception {
        List<Path> paths = createClustered(256 * MIB, "--assume-clean", "--bitmap-chunk=1M");
        Coordinator c = coordinator();
        List<Daemon> nodes = new ArrayList<>(List.of(node(c, 1, paths), node(c, 2, paths), node(c, 3, paths)));
        Path control = Files.createDirectories(dir.resolve("control"));
        Path history = dir.resolve("history.jsonl");
        List<String> uris = nodes.stream().map(Daemon::nbdUri).toList();
        int blocks = 64 * 256; // the first 64 MiB: 64 bitmap chunks shared by the three nodes
        Process client = new ProcessBuilder("/usr/bin/python3", CLIENT.toString(), "--uris", String.join(",", uris),
                "--blocks", Integer.toString(blocks), "--seconds", "60", "--seed", "22", "--out", history.toString(),
                "--control-dir", control.toString(), "--threads-per-node", "4", "--retire-failed-blocks").redirectErrorStream(true)
                .redirectOutput(dir.resolve("client.log").toFile()).start();
        running.add(() -> {
            client.destroyForcibly();
            client.waitFor(10, TimeUnit.SECONDS);
        });
        History events = History.load();
        Thread.sleep(4000);

        // kill -9 of node 2 (slot 1) mid-write, with its writes to the second leg held back first, so
        // that it dies with writes on one leg only: what the survivors' resync must make whole
        Daemon victim = nodes.get(1);
        int victimSlot = victim.status().get("cluster").get("nodeSlot").asInt();
        long dataStart = MemberMetadataReader.read(paths.get(1)).superblock().dataOffset() * 512;
        victim.fault(paths.get(1), "stall-writes " + dataStart);
        await().atMost(Duration.ofSeconds(10)).until(() -> victim.logText().contains("stall-writes"));
        Thread.sleep(500);
        victim.kill9();
        long killedAt = System.nanoTime();
        events.killed(1, killedAt);
        long deadDirty = dirtyChunksOfSlot(paths.get(0), victimSlot);
        assertThat(deadDirty).as("the killed node had writes in flight").isPositive();

        Pattern tookOver = Pattern.compile("took over (\\d+) dirty chunk\\(s\\) of slot " + victimSlot + ";");
        long[] recovered = {-1};
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> {
            for (Daemon d : List.of(nodes.get(0), nodes.get(2))) {
                Matcher m = tookOver.matcher(d.logText());
                if (m.find()) {
                    recovered[0] = Long.parseLong(m.group(1));
                    return true;
                }
            }
            return false;
        });
        long recoveredAt = System.nanoTime();
        events.recovered(1, recoveredAt);
        System.out.printf("node 2 killed with %d dirty chunk(s); taken over and announced %d ms later%n", deadDirty,
                (recoveredAt - killedAt) / 1_000_000);
        Files.writeString(control.resolve("recovered-1"), "1");
        assertThat(recovered[0]).as("chunks taken over = the dead node's dirty chunks").isEqualTo(deadDirty);

        // the killed node comes back and rejoins (its old slot recovered, or a free one), its disk healthy
        victim.fault(paths.get(1), "healthy");
        Daemon restarted = node(c, 2, paths);
        nodes.set(1, restarted);
        Thread.sleep(5000);
        HistoryChecker.Report report = ClusterChecks.stopAndCheckHistory(client, control, dir.resolve("client.log"),
                nodes, blocks, history, events);
        assertThat(report.writesAcknowledged()).isGreaterThan(1000);
        assertThat(report.quietReads()).isGreaterThan(1000);

        for (Daemon d : nodes) {
            JsonNode s = d.status();
            assertThat(s.get("cluster").get("nodes")).hasSize(3);
            assertThat(s.get("cluster").get("lockBackend").asText()).isEqualTo("zookeeper");
        }
        assertThat(nodes.get(0).check()).isZero();
        assertThat(Daemon.dataArea(paths.get(0), 64 * MIB)).isEqualTo(Daemon.dataArea(paths.get(1), 64 * MIB));
    }

    /**
     * mdadm's 03r1_switch-resync: the node resyncing a new array stops (SIGTERM, or dies with
     * SIGKILL) half-way; another node takes its remaining chunks over and finishes the resync
     * from where it stopped, not from the start.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"stop", "kill"})
    void switchResync_resyncingNodeGoes_anotherFinishesFromWhereItStopped(String how) throws Exception {
        List<Path> paths = createClustered(192 * MIB, "--bitmap-chunk=4M");
        Coordinator c = coordinator();
        Daemon first = node(c, 1, paths, "--speed-limit-max", "10000", "--speed-limit-min", "10000");
        Daemon second = node(c, 2, paths);
        // Half-way, and long enough after the start that the bitmap daemon has cleared the first chunks.
        await().atMost(Duration.ofSeconds(60)).until(() -> first.status().get("sync").get("doneSectors").asLong()
                > 100 * MIB / 512);
        if (how.equals("stop")) {
            assertThat(first.terminate()).isZero();
        } else {
            first.kill9();
        }
        Pattern tookOver = Pattern.compile("took over (\\d+) dirty chunk\\(s\\) of slot 0;");
        long[] left = {-1};
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            Matcher m = tookOver.matcher(second.logText());
            if (m.find()) {
                left[0] = Long.parseLong(m.group(1));
            }
            return left[0] >= 0;
        });
        assertThat(left[0]).as("chunks the first node had not resynced, of 48").isBetween(1L, 47L);
        second.awaitIdle();
        assertThat(second.logText()).contains("resync of " + left[0] + " chunk(s) started");
        assertThat(second.check()).isZero();
    }

    /** A writer and reader on every node for {@code seconds}; the client's process, its history in {@code out}. */
    private Process historyClient(List<Daemon> nodes, int seconds, Path out, Path control) throws Exception {
        Process client = new ProcessBuilder("/usr/bin/python3", CLIENT.toString(), "--uris",
                String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks", "4096", "--seconds",
                Integer.toString(seconds), "--seed", "5", "--out", out.toString(), "--control-dir",
                Files.createDirectories(control).toString()).redirectErrorStream(true)
                .redirectOutput(out.resolveSibling(out.getFileName() + ".log").toFile()).start();
        running.add(() -> {
            client.destroyForcibly();
            client.waitFor(10, TimeUnit.SECONDS);
        });
        return client;
    }

    /**
     * The coordinator is killed and started again within the nodes' session timeout: the nodes ride
     * it out (ZooKeeper keeps their sessions), no I/O fails and no slot is recovered.
     */
    @Test
    void coordinatorRestartedWithinSessionTimeout_noDisruption() throws Exception {
        List<Path> paths = createClustered(64 * MIB, "--assume-clean");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, paths, "--lock-session-timeout", "10"),
                node(c, 2, paths, "--lock-session-timeout", "10"));
        Path out = dir.resolve("restart.jsonl");
        Process client = historyClient(nodes, 12, out, dir.resolve("control-restart"));
        Thread.sleep(3000);
        c.kill9();
        c.startProcess();
        assertUndisturbed(client, out, nodes);
    }

    /**
     * The history client finished without a failed request and its history holds; every node still
     * runs, never fenced, recovered nobody, sees the other and calls its lock manager healthy.
     */
    private static void assertUndisturbed(Process client, Path out, List<Daemon> nodes) throws Exception {
        assertThat(client.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String log = Files.readString(out.resolveSibling(out.getFileName() + ".log"));
        assertThat(client.exitValue()).as(log).isZero();
        assertThat(log).contains("failed=0");
        HistoryChecker.Report report = HistoryChecker.check(History.load(out));
        assertThat(report.ok()).as(report.describe(20)).isTrue();
        for (Daemon d : nodes) {
            assertThat(d.alive()).isTrue();
            assertThat(d.logText()).doesNotContain("is gone; recovering", "fenced");
            assertThat(d.status().get("cluster").get("lockHealth").asText()).isEqualTo("ok");
            assertThat(d.status().get("cluster").get("nodes")).hasSize(nodes.size());
        }
    }

    /**
     * A three-server coordinator ensemble loses its leader to {@code kill -9} while two nodes write:
     * the two servers left elect a new leader, the nodes' sessions move over within their timeout
     * (6 s here: the default 3 s also rides it out on an idle machine, but leaves a loaded one only
     * about 2 s for the election and the reconnection), no I/O fails, nobody fences and no slot is
     * recovered.
     */
    @Test
    void ensembleLosesItsLeader_noDisruption() throws Exception {
        List<Path> paths = createClustered(64 * MIB, "--assume-clean");
        List<Coordinator> ensemble = Coordinator.startEnsemble(dir, 3);
        running.addAll(ensemble);
        String lock = Coordinator.lockUri(ensemble);
        List<Daemon> nodes = List.of(node(lock, 1, paths, "--lock-session-timeout", "6"),
                node(lock, 2, paths, "--lock-session-timeout", "6"));
        Path out = dir.resolve("ensemble.jsonl");
        Process client = historyClient(nodes, 12, out, dir.resolve("control-ensemble"));
        Thread.sleep(3000);
        Coordinator leader = ensemble.stream().filter(c -> "leader".equals(c.mode())).findFirst()
                .orElseThrow(() -> new AssertionError("no ensemble server says it leads"));
        leader.kill9();
        await().atMost(Duration.ofSeconds(20)).until(() -> ensemble.stream().filter(c -> c != leader)
                .anyMatch(c -> "leader".equals(c.mode())));
        assertUndisturbed(client, out, nodes);
        assertThat(nodes.get(0).check()).isZero();
    }

    /**
     * The coordinator is gone for longer than the session timeout: every node fences itself before
     * its session can expire (member I/O stops, NBD requests fail rather than hang). Node 1 runs
     * with {@code --on-fence exit} and exits 75 for its supervisor, which starts it again; node 2
     * (the default) waits in the same process and rejoins by itself. Once the coordinator is back
     * both are members again, recover the slots the old incarnations left dirty, and serve the data
     * acknowledged before.
     */
    @Test
    void coordinatorGonePastSessionTimeout_nodesSelfFence_thenRejoinAndRecover() throws Exception {
        List<Path> paths = createClustered(64 * MIB, "--assume-clean");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, paths, "--on-fence", "exit"), node(c, 2, paths));
        Path out = dir.resolve("fence.jsonl");
        Process client = historyClient(nodes, 60, out, dir.resolve("control-fence"));
        Thread.sleep(3000);
        c.kill9();
        long t0 = System.nanoTime();
        assertThat(nodes.get(0).waitFor(20)).as(nodes.get(0).logText()).isEqualTo(75);
        await().atMost(Duration.ofSeconds(20)).until(() -> nodes.get(1).logText().contains("rejoining the array"));
        long fencedMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("both nodes fenced " + fencedMs + " ms after the coordinator died");
        for (Daemon d : nodes) {
            assertThat(d.logText()).contains("lost the lock manager", "member I/O stops now");
        }
        assertThat(nodes.get(1).alive()).as("node 2 waits to rejoin").isTrue();
        c.startProcess();
        List<Daemon> back = List.of(node(c, 1, paths), nodes.get(1));
        // The old incarnations' slots are recovered once their sessions are gone: then the two nodes
        // see only each other.
        await().atMost(Duration.ofSeconds(60)).until(() -> liveNodes(back.get(0)) == 2 && liveNodes(back.get(1)) == 2);
        for (Daemon d : back) {
            d.awaitIdle();
        }
        long recoveredAt = System.nanoTime();
        Files.writeString(dir.resolve("control-fence").resolve("recovered-0"), "1");
        Files.writeString(dir.resolve("control-fence").resolve("recovered-1"), "1");
        Files.writeString(dir.resolve("control-fence").resolve("stop"), "");
        assertThat(client.waitFor(60, TimeUnit.SECONDS)).isTrue();
        Processes.Result fin = Processes.run(List.of("/usr/bin/python3", CLIENT.toString(), "--final-read", "--uris",
                String.join(",", back.stream().map(Daemon::nbdUri).toList()), "--blocks", "4096", "--out",
                out.toString()));
        assertThat(fin.exitCode()).as(fin.stdout() + fin.stderr()).isZero();
        History h = History.load(out);
        // Fenced nodes' unfinished writes are settled once the restarted nodes recovered their slots.
        h.recovered(0, recoveredAt).recovered(1, recoveredAt);
        HistoryChecker.Report report = HistoryChecker.check(h);
        assertThat(report.ok()).as(report.describe(20)).isTrue();
        assertThat(back.get(0).check()).isZero();
    }

    /** The live nodes a node's status lists; -1 while it does not answer (between a fence and its rejoin). */
    private static int liveNodes(Daemon d) {
        try {
            return d.status().get("cluster").get("nodes").size();
        } catch (Exception | AssertionError e) {
            return -1;
        }
    }

    /** Chunks set in node slot {@code slot}'s bitmap on a member file (what mdadm -X counts as dirty). */
    static long dirtyChunksOfSlot(Path member, int slot) throws Exception {
        MemberMetadata m = MemberMetadataReader.read(member);
        return m.slots().get(slot).dirty();
    }

    @Test
    void run_clusteredWithoutLock_saysWhichOptionAndHowToStartACoordinator() throws Exception {
        List<Path> paths = createClustered(64 * MIB);
        Processes.Result r = Processes.run(runCommand(paths));
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.stderr()).contains("is clustered", "--lock zk://", "clustermd coordinator", "--lock dlm");
    }

    @Test
    void run_lockOnSingleNodeArray_isRefused() throws Exception {
        List<Path> paths = MemberFiles.sparse(dir, "single-", 2, 64 * MIB);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--name=single"));
        paths.forEach(p -> args.add(p.toString()));
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(new StringWriter()))).isZero();
        List<String> cmd = runCommand(paths);
        cmd.addAll(2, List.of("--lock", "zk://127.0.0.1:1/clustermd"));
        Processes.Result r = Processes.run(cmd);
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.stderr()).contains("is not clustered", "drop --lock");
    }

    @Test
    void run_lockServiceUnreachable_failsInBoundedTimeNamingTheAddress_writesNothing() throws Exception {
        List<Path> paths = createClustered(64 * MIB);
        Map<Path, byte[]> before = new TreeMap<>();
        for (Path p : paths) {
            before.put(p, Files.readAllBytes(p));
        }
        List<String> cmd = runCommand(paths);
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        cmd.addAll(2, List.of("--lock", "zk://127.0.0.1:" + port + "/clustermd", "--node-name", "n1"));
        long t0 = System.nanoTime();
        Processes.Result r = Processes.run(cmd);
        long tookMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.stderr()).contains("127.0.0.1:" + port);
        assertThat(tookMs).isLessThan(30_000);
        for (Path p : paths) {
            assertThat(Files.readAllBytes(p)).as("%s untouched", p).isEqualTo(before.get(p));
        }
        members.clear(); // nothing ran; mdadm has seen them at create
    }

    /**
     * Two daemons of one array under one node name: the second waits for the first to go (it
     * could have been killed just before), then is refused naming the name, and the first keeps
     * serving alone. Killed with kill -9, the first's name is free again once its session ended.
     */
    @Test
    void run_sameNodeNameTwice_secondRefusedNamingTheName_afterAKillTheNameIsFreeAgain() throws Exception {
        List<Path> paths = createClustered(64 * MIB, "--assume-clean");
        Coordinator c = coordinator();
        Daemon first = node(c, 1, paths);
        List<String> cmd = runCommand(paths);
        cmd.addAll(2, List.of("--lock", c.lockUri(), "--node-name", "node1"));
        long t0 = System.nanoTime();
        Processes.Result r = Processes.run(cmd);
        long tookMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(r.exitCode()).as(r.stderr()).isEqualTo(1);
        assertThat(r.stderr()).contains("another daemon runs as node 'node1'", "--node-name");
        assertThat(tookMs).as("waited one session timeout plus grace, not the 60 s join bound").isLessThan(30_000);
        assertThat(first.alive()).isTrue();
        assertThat(first.status().get("cluster").get("nodes")).hasSize(1);

        first.kill9();
        Daemon again = node(c, 1, paths);
        assertThat(again.logText()).contains("another daemon holds node name 'node1'");
        assertThat(again.status().get("cluster").get("nodes")).hasSize(1);
        again.awaitIdle();
        assertThat(again.check()).isZero();
    }

    private List<String> runCommand(List<Path> paths) {
        List<String> cmd = new ArrayList<>(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "run",
                "--name", "x", "--run-dir", dir.resolve("run-x").toString()));
        paths.forEach(p -> cmd.add(p.toString()));
        return cmd;
    }
}
