package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.test.history.History;
import io.clustermd.test.history.HistoryChecker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.clustermd.test.daemon.ClusterChecks.awaitStates;
import static io.clustermd.test.daemon.ClusterChecks.ctlOffline;
import static io.clustermd.test.daemon.ClusterChecks.examine;
import static io.clustermd.test.daemon.ClusterChecks.mdstat;
import static io.clustermd.test.daemon.ClusterChecks.ok;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Clustered raid10 (near layouts, as md-cluster allows) with real daemons: ports of mdadm's
 * {@code clustermd_tests} 00r10_Create, 01r10_Grow_bitmap-switch, 02r10_Manage_add,
 * 02r10_Manage_add-spare, 02r10_Manage_re-add, 03r10_switch-recovery and 03r10_switch-resync, and
 * a node killed mid-write on an odd-sized n2 array whose history of reads and writes must hold.
 * After every scenario the system's mdadm reads every member.
 */
class ClusteredRaid10Test {

    static final long MIB = 1L << 20;
    static final Path CLIENT = Daemon.ROOT.resolve("test/src/test/resources/history_client.py");

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    static Path coordinatorDir;
    private static Coordinator shared;

    private final List<Path> examined = new ArrayList<>();
    private final List<AutoCloseable> running = new ArrayList<>();

    @AfterAll
    static void stopCoordinator() throws Exception {
        if (shared != null) {
            shared.close();
            shared = null;
        }
    }

    @AfterEach
    void stopAllAndExamine() throws Exception {
        for (int i = running.size() - 1; i >= 0; i--) {
            running.get(i).close();
        }
        for (Path p : examined) {
            assertThat(examine(p)).contains("Raid Level : raid10", "Layout : near=2");
        }
    }

    /** A clustered raid10 n2 on {@code devices} members (64K chunks) and {@code spares} more files. */
    private List<Path> create(int devices, long size, int spares, String... extra) {
        List<Path> paths = MemberFiles.sparse(dir, "m-", devices + spares, size);
        List<String> args = new ArrayList<>(List.of("create", "--level=10", "--layout=n2", "--chunk=64K",
                "--raid-devices=" + devices, "--bitmap=clustered", "--nodes=4", "--home-cluster=test", "--name=shared",
                "--bitmap-chunk=1M"));
        args.addAll(List.of(extra));
        paths.subList(0, devices).forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err));
        assertThat(rc).as(err.toString()).isZero();
        examined.addAll(paths.subList(0, devices));
        return paths;
    }

    private Daemon node(int n, List<Path> members, String... extra) throws Exception {
        if (shared == null) {
            shared = Coordinator.start(coordinatorDir);
        }
        List<String> args = new ArrayList<>(List.of("--lock", shared.lockUri(), "--node-name", "node" + n));
        args.addAll(List.of(extra));
        Daemon d = Daemon.start(dir.resolve("node" + n), "shared", members, args.toArray(String[]::new));
        running.add(d);
        return d;
    }

    private static String syncText(Daemon d) throws Exception {
        var sync = d.status().get("sync");
        return sync.get("action").asText() + (sync.hasNonNull("waiting") ? "=" + sync.get("waiting").asText() : "");
    }

    /** The node that shows a recovery of its own ("recovery ="), waiting for one to show. */
    private static Daemon recovering(List<Daemon> nodes) {
        Daemon[] found = new Daemon[1];
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            for (Daemon d : nodes) {
                if (mdstat(d).contains("recovery =")) {
                    found[0] = d;
                }
            }
            return found[0] != null;
        });
        return found[0];
    }

    /**
     * 00r10_Create, then 02r10_Manage_re-add, 02r10_Manage_add-spare and 02r10_Manage_add on the
     * same two nodes: the first node resyncs the new array while the other shows PENDING, both end
     * [2/2] [UU] with "2 near-copies"; a member failed and removed on node 1 and re-added comes back
     * by the bitmaps alone; a device added on node 2 to the healthy array is a spare everywhere; when
     * the other member fails, the spare takes its role and one node rebuilds it while the other shows
     * REMOTE. The data written at the start reads back through both nodes and check = 0.
     */
    @Test
    void create_reAdd_addSpare_add_everyNodeFollows() throws Exception {
        List<Path> p = create(2, 64 * MIB, 2);
        Daemon one = node(1, p.subList(0, 2), "--speed-limit-max", "6000", "--speed-limit-min", "6000");
        Daemon two = node(2, p.subList(0, 2));
        List<Daemon> nodes = List.of(one, two);
        assertThat(syncText(one)).isEqualTo("resync");
        await().atMost(Duration.ofSeconds(20)).until(() -> syncText(two).equals("resync=pending"));
        for (Daemon d : nodes) {
            d.awaitIdle();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> syncText(two).equals("idle"));
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("active raid10", "2 near-copies [2/2] [UU]");
        }
        assertThat(one.logText()).contains("resync of 63 chunk(s) started");
        byte[] data = ClusterChecks.writeThrough(dir, one, 6 << 20, 11);

        // 02r10_Manage_re-add
        ok(one.ctl("fail", p.get(0).toString()));
        ok(one.ctl("remove", p.get(0).toString()));
        awaitStates(nodes, "{m-1.img=in_sync}");
        ok(one.ctl("re-add", p.get(0).toString()));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=in_sync}");
        for (Daemon d : nodes) {
            d.awaitIdle();
            assertThat(d.logText()).doesNotContain("m-0.img: full recovery");
            assertThat(mdstat(d)).contains("[2/2] [UU]");
        }

        // 02r10_Manage_add-spare
        ok(two.ctl("add", p.get(2).toString()));
        examined.add(p.get(2));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=in_sync, m-2.img=spare}");

        // 02r10_Manage_add: the spare takes a failed member's role; a device added then is a spare
        ok(two.ctl("fail", p.get(1).toString()));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=faulty, m-2.img=in_sync}");
        for (Daemon d : nodes) {
            d.awaitIdle();
        }
        long rebuilt = nodes.stream().filter(d -> d.logText().contains("m-2.img: full recovery from byte")).count();
        assertThat(rebuilt).as("one node rebuilds the spare").isEqualTo(1);
        ok(one.ctl("remove", p.get(1).toString()));
        ok(one.ctl("add", p.get(3).toString()));
        examined.add(p.get(3));
        awaitStates(nodes, "{m-0.img=in_sync, m-2.img=in_sync, m-3.img=spare}");
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("[2/2] [UU]");
            assertThat(ClusterChecks.readThrough(dir, d, data.length)).isEqualTo(data);
        }
        assertThat(two.check()).isZero();
        examined.remove(p.get(1));
    }

    /**
     * 03r10_switch-resync, then 03r10_switch-recovery: the node resyncing a new array stops half-way
     * and the other finishes the resync from where it stopped; later, with a spare, a member fails,
     * one node rebuilds the spare while the other shows recover=REMOTE, the rebuilding node is
     * killed, and the other continues from md's recovery_offset checkpoint (not from the start).
     */
    @Test
    void switchResync_thenSwitchRecovery_theOtherNodeContinues() throws Exception {
        List<Path> p = create(2, 64 * MIB, 1);
        String[] slow = {"--speed-limit-max", "8000", "--speed-limit-min", "8000"};
        Daemon first = node(1, p.subList(0, 2), slow);
        Daemon second = node(2, p.subList(0, 2), slow);
        await().atMost(Duration.ofSeconds(60)).until(() -> first.status().get("sync").get("doneSectors").asLong()
                > 24 * MIB / 512);
        assertThat(first.terminate()).isZero();
        Pattern tookOver = Pattern.compile("took over (\\d+) dirty chunk\\(s\\) of slot 0;");
        long[] left = {-1};
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            Matcher m = tookOver.matcher(second.logText());
            if (m.find()) {
                left[0] = Long.parseLong(m.group(1));
            }
            return left[0] >= 0;
        });
        assertThat(left[0]).as("chunks the first node had not resynced, of 63").isBetween(1L, 62L);
        second.awaitIdle();
        assertThat(second.logText()).contains("resync of " + left[0] + " chunk(s) started");

        Daemon again = node(1, p.subList(0, 2), slow);
        List<Daemon> nodes = List.of(again, second);
        ok(second.ctl("add", p.get(2).toString()));
        examined.add(p.get(2));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=in_sync, m-2.img=spare}");
        ok(again.ctl("fail", p.get(0).toString()));
        awaitStates(nodes, "{m-0.img=faulty, m-1.img=in_sync, m-2.img=rebuilding}");
        Daemon recovering = recovering(nodes);
        Daemon other = recovering == again ? second : again;
        assertThat(mdstat(other)).contains("recover=REMOTE");
        await().atMost(Duration.ofSeconds(60)).until(() -> recovering.status().get("sync").get("doneSectors")
                .asLong() > 20 * MIB / 512);
        recovering.kill9();
        Pattern resumed = Pattern.compile("m-2.img: full recovery from byte (\\d+)");
        await().atMost(Duration.ofSeconds(60)).until(() -> resumed.matcher(other.logText()).find());
        Matcher m = resumed.matcher(other.logText());
        assertThat(m.find()).isTrue();
        assertThat(Long.parseLong(m.group(1))).as("continues from the dead node's checkpoint").isGreaterThan(8 * MIB);
        other.awaitIdle();
        assertThat(mdstat(other)).contains("[2/2] [UU]");
        assertThat(other.check()).isZero();
    }

    /**
     * 01r10_Grow_bitmap-switch with the array stopped on every node: clustered to none to internal to
     * none to clustered, both nodes assemble it again and the data is kept. A far layout cannot get a
     * clustered bitmap (md-cluster's rule), at create or at grow.
     */
    @Test
    void growBitmapSwitch_dataKept_farLayoutNeverClustered() throws Exception {
        List<Path> p = create(2, 64 * MIB, 0, "--assume-clean");
        String a = p.get(0).toString();
        String b = p.get(1).toString();
        Daemon one = node(1, p);
        Daemon two = node(2, p);
        byte[] data = ClusterChecks.writeThrough(dir, two, 4 << 20, 21);
        assertThat(one.terminate()).isZero();
        assertThat(two.terminate()).isZero();
        assertThat(ctlOffline("grow", "--bitmap=none", a, b)[0]).isEqualTo("0");
        assertThat(examine(p.get(0))).contains("Feature Map : 0x0\n");
        assertThat(ctlOffline("grow", "--bitmap=internal", a, b)[0]).isEqualTo("0");
        assertThat(examine(p.get(0))).contains("Feature Map : 0x1\n");
        assertThat(ctlOffline("grow", "--bitmap=none", a, b)[0]).isEqualTo("0");
        String[] clustered = ctlOffline("grow", "--bitmap=clustered", "--nodes=4", "--home-cluster=test", a, b);
        assertThat(clustered[0]).as(clustered[2]).isEqualTo("0");
        List<Daemon> nodes = List.of(node(1, p), node(2, p));
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("2 near-copies [2/2] [UU]");
            assertThat(ClusterChecks.readThrough(dir, d, data.length)).isEqualTo(data);
        }
        assertThat(nodes.get(0).check()).isZero();

        List<Path> far = MemberFiles.sparse(dir, "far-", 2, 32 * MIB);
        String[] refused = ctlOffline("create", "--level=10", "--layout=f2", "--raid-devices=2", "--bitmap=clustered",
                "--home-cluster=test", "--name=far", far.get(0).toString(), far.get(1).toString());
        assertThat(refused[0]).isEqualTo("1");
        assertThat(refused[2]).contains("only near layout is supported by clustered raid10");
        assertThat(ctlOffline("create", "--level=10", "--layout=f2", "--raid-devices=2", "--bitmap=none",
                "--name=far", far.get(0).toString(), far.get(1).toString())[0]).isEqualTo("0");
        String[] grow = ctlOffline("grow", "--bitmap=clustered", "--home-cluster=test", far.get(0).toString(),
                far.get(1).toString());
        assertThat(grow[0]).isEqualTo("1");
        assertThat(grow[2]).contains("only near layout is supported by clustered raid10");
    }

    /**
     * Two nodes write and read through NBD on a three-member n2 array (odd, so copies wrap across
     * rows); node 2 is killed with kill -9 mid-write. Node 1 takes over exactly node 2's dirty
     * chunks, node 2 comes back, and the whole history satisfies the consistency contract; check = 0.
     */
    @Test
    void canRecoverAfterNodeCrash_oddMembers_historyHolds() throws Exception {
        List<Path> p = create(3, 64 * MIB, 0, "--assume-clean");
        List<Daemon> nodes = new ArrayList<>(List.of(node(1, p), node(2, p)));
        Path control = Files.createDirectories(dir.resolve("control"));
        Path history = dir.resolve("history.jsonl");
        int blocks = 32 * 256;
        Process client = new ProcessBuilder("/usr/bin/python3", CLIENT.toString(), "--uris",
                String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks", Integer.toString(blocks),
                "--seconds", "30", "--seed", "23", "--out", history.toString(), "--control-dir", control.toString(),
                "--threads-per-node", "4", "--retire-failed-blocks").redirectErrorStream(true)
                .redirectOutput(dir.resolve("client.log").toFile()).start();
        running.add(() -> {
            client.destroyForcibly();
            client.waitFor(10, TimeUnit.SECONDS);
        });
        History events = History.load();
        Thread.sleep(4000);
        Daemon victim = nodes.get(1);
        int victimSlot = victim.status().get("cluster").get("nodeSlot").asInt();
        victim.kill9();
        events.killed(1, System.nanoTime());
        Pattern tookOver = Pattern.compile("took over (\\d+) dirty chunk\\(s\\) of slot " + victimSlot + ";");
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
                .until(() -> tookOver.matcher(nodes.get(0).logText()).find());
        events.recovered(1, System.nanoTime());
        Files.writeString(control.resolve("recovered-1"), "1");
        nodes.set(1, node(2, p));
        Thread.sleep(3000);
        HistoryChecker.Report report = ClusterChecks.stopAndCheckHistory(client, control, dir.resolve("client.log"),
                nodes, blocks, history, events);
        assertThat(report.writesAcknowledged()).isGreaterThan(500);
        assertThat(nodes.get(0).check()).isZero();
        assertThat(MemberMetadataReader.read(p.get(2)).superblock().level()).isEqualTo(10);
    }
}
