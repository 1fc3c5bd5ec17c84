package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.clustermd.test.daemon.ClusterChecks.awaitStates;
import static io.clustermd.test.daemon.ClusterChecks.ctlOffline;
import static io.clustermd.test.daemon.ClusterChecks.examine;
import static io.clustermd.test.daemon.ClusterChecks.mdstat;
import static io.clustermd.test.daemon.ClusterChecks.ok;
import static io.clustermd.test.daemon.ClusterChecks.states;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Member management on a running cluster, with real daemons as users run them (ports of mdadm's
 * {@code clustermd_tests} 02r1_Manage_add, 02r1_Manage_add-spare, 02r1_Manage_re-add and
 * 03r1_switch-recovery, plus a member failing by I/O errors on one node, and an add that one node
 * cannot see): {@code clusterctl} on one node, and every node agrees. After every scenario
 * {@code check} finds no mismatch and the system's mdadm reads every member.
 */
class ClusterDiskManagementTest {

    static final long MIB = 1L << 20;
    static final Path CLIENT = Daemon.ROOT.resolve("test/src/test/resources/history_client.py");

    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS)
    Path dir;

    /** One coordinator for the class: every test's array has its own lockspace in it. */
    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS)
    static Path coordinatorDir;
    private static Coordinator shared;

    @org.junit.jupiter.api.AfterAll
    static void stopCoordinator() throws Exception {
        if (shared != null) {
            shared.close();
            shared = null;
        }
    }

    private final List<Path> examined = new ArrayList<>();
    private final List<AutoCloseable> running = new ArrayList<>();

    @AfterEach
    void stopAllAndExamine() throws Exception {
        for (int i = running.size() - 1; i >= 0; i--) {
            running.get(i).close();
        }
        // The system's mdadm reads every member, line for line as clusterctl examine does.
        for (Path p : examined) {
            Processes.Result mdadm = Processes.run(List.of("mdadm", "--examine", p.toString()));
            assertThat(mdadm.exitCode()).as(p + ": " + mdadm.stdout() + mdadm.stderr()).isZero();
            assertThat(mdadm.stdout()).contains("Cluster Name : test");
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int rc = ClusterCtl.run(new String[] {"examine", p.toString()}, new PrintWriter(out), new PrintWriter(err));
            assertThat(rc).as(err.toString()).isZero();
            assertThat(out.toString().lines().toList()).as(p.toString()).containsExactlyElementsOf(mdadm.lines());
        }
    }

    /** A two-member clustered raid1 and {@code spares} more files of the same size in the same directory. */
    private List<Path> create(long size, int spares, String... extra) {
        List<Path> paths = MemberFiles.sparse(dir, "m-", 2 + spares, size);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=clustered",
                "--nodes=4", "--home-cluster=test", "--name=shared", "--bitmap-chunk=1M"));
        args.addAll(List.of(extra));
        paths.subList(0, 2).forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err));
        assertThat(rc).as(err.toString()).isZero();
        examined.addAll(paths.subList(0, 2));
        return paths;
    }

    private Coordinator coordinator() throws Exception {
        if (shared == null) {
            shared = Coordinator.start(coordinatorDir);
        }
        return shared;
    }

    private Daemon node(Coordinator c, int n, List<Path> members, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("--lock", c.lockUri(), "--node-name", "node" + n));
        args.addAll(List.of(extra));
        Daemon d = Daemon.start(dir.resolve("node" + n), "shared", members, args.toArray(String[]::new));
        running.add(d);
        return d;
    }

    private byte[] writeThrough(Daemon d, int bytes, long seed) throws Exception {
        return ClusterChecks.writeThrough(dir, d, bytes, seed);
    }

    private byte[] readThrough(Daemon d, int bytes) throws Exception {
        return ClusterChecks.readThrough(dir, d, bytes);
    }

    /**
     * 02r1_Manage_add, 02r1_Manage_add-spare and 01r1_Grow_add: node 1 fails and removes the first
     * member, every node follows; node 1 adds a fresh device, which every node finds by its device
     * UUID on its own (no udev, no confirm step), one node rebuilds it, and both end [UU]. Then node
     * 2 adds a device to the healthy array: a spare on both nodes, and a second one makes two. Node 2
     * grows the array to four mirrors: the spares take the new roles and are rebuilt, [UUUU] on both;
     * going back to two is refused while the roles are held. The data reads the same everywhere.
     */
    @Test
    void manageAdd_failRemoveAdd_everyNodeFollows_thenSpares() throws Exception {
        List<Path> p = create(64 * MIB, 3, "--assume-clean");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, p.subList(0, 2)), node(c, 2, p.subList(0, 2)));
        byte[] data = writeThrough(nodes.get(0), 8 << 20, 7);

        ok(nodes.get(0).ctl("fail", p.get(0).toString()));
        awaitStates(nodes, "{m-0.img=faulty, m-1.img=in_sync}");
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("[2/1] [_U]");
        }
        ok(nodes.get(0).ctl("remove", p.get(0).toString()));
        awaitStates(nodes, "{m-1.img=in_sync}");

        ok(nodes.get(0).ctl("add", p.get(2).toString()));
        examined.add(p.get(2));
        awaitStates(nodes, "{m-1.img=in_sync, m-2.img=in_sync}");
        for (Daemon d : nodes) {
            d.awaitIdle();
            assertThat(mdstat(d)).contains("[2/2] [UU]");
        }
        long recoveries = nodes.stream().filter(d -> d.logText().contains("m-2.img: full recovery from byte")).count();
        assertThat(recoveries).as("one node rebuilds the new member").isEqualTo(1);
        assertThat(nodes.get(1).logText()).contains("another node adds " + p.get(2));

        ok(nodes.get(1).ctl("add", p.get(3).toString()));
        examined.add(p.get(3));
        awaitStates(nodes, "{m-1.img=in_sync, m-2.img=in_sync, m-3.img=spare}");
        ok(nodes.get(0).ctl("add", p.get(4).toString()));
        examined.add(p.get(4));
        awaitStates(nodes, "{m-1.img=in_sync, m-2.img=in_sync, m-3.img=spare, m-4.img=spare}");
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("[2/2] [UU]");
            assertThat(ok(d.ctl("detail")).stdout()).containsPattern("Spare Devices : 2");
        }

        // 01r1_Grow_add: four mirrors; the two spares take the new roles and are rebuilt (on either node)
        Processes.Result grown = ok(nodes.get(1).ctl("grow", "--raid-devices=4"));
        assertThat(grown.stderr()).contains("raid_disks for md-shared set to 4");
        awaitStates(nodes, "{m-1.img=in_sync, m-2.img=in_sync, m-3.img=in_sync, m-4.img=in_sync}");
        for (Daemon d : nodes) {
            d.awaitIdle();
            assertThat(mdstat(d)).contains("[4/4] [UUUU]");
        }
        Processes.Result shrink = nodes.get(0).ctl("grow", "--raid-devices=2");
        assertThat(shrink.exitCode()).isEqualTo(1);
        assertThat(shrink.stderr()).contains("holds slot 2", "fail and remove it first");
        assertThat(readThrough(nodes.get(1), data.length)).isEqualTo(data);
        assertThat(nodes.get(0).check()).isZero();
        // node 1 restarted with its old command line (m-0, m-1): the members added since are found
        assertThat(nodes.get(0).terminate()).isZero();
        Daemon again = node(c, 1, p.subList(0, 2));
        assertThat(mdstat(again)).contains("[4/4] [UUUU]");
        assertThat(again.logText()).contains("was not given; found at " + p.get(4));
        for (Path m : p.subList(2, 5)) {
            assertThat(Daemon.dataArea(m, 64 * MIB)).as(m.toString()).isEqualTo(Daemon.dataArea(p.get(1), 64 * MIB));
        }
    }

    /**
     * 03r1_switch-recovery: an array with a spare; node 1 fails the first member, the spare takes
     * its place and one node rebuilds it while the other shows recover=REMOTE; the recovering node
     * dies (kill -9) mid-recovery, and the other continues from the last checkpoint (not from the
     * start) to [UU].
     */
    @Test
    void switchRecovery_recoveringNodeDies_otherContinuesFromCheckpoint() throws Exception {
        List<Path> p = create(96 * MIB, 1, "--assume-clean");
        Coordinator c = coordinator();
        String[] slow = {"--speed-limit-max", "10000", "--speed-limit-min", "10000"};
        List<Daemon> nodes = List.of(node(c, 1, p.subList(0, 2), slow), node(c, 2, p.subList(0, 2), slow));
        ok(nodes.get(1).ctl("add", p.get(2).toString()));
        examined.add(p.get(2));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=in_sync, m-2.img=spare}");

        ok(nodes.get(0).ctl("fail", p.get(0).toString()));
        awaitStates(nodes, "{m-0.img=faulty, m-1.img=in_sync, m-2.img=rebuilding}");
        Daemon[] recovering = new Daemon[1];
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            for (Daemon d : nodes) {
                if (mdstat(d).contains("recovery =")) {
                    recovering[0] = d;
                }
            }
            return recovering[0] != null;
        });
        Daemon other = recovering[0] == nodes.get(0) ? nodes.get(1) : nodes.get(0);
        assertThat(mdstat(other)).contains("recover=REMOTE");
        await().atMost(Duration.ofSeconds(60)).until(() -> recovering[0].status().get("sync").get("doneSectors")
                .asLong() > 24 * MIB / 512);
        recovering[0].kill9();

        Pattern resumed = Pattern.compile("m-2.img: full recovery from byte (\\d+)");
        await().atMost(Duration.ofSeconds(60)).until(() -> resumed.matcher(other.logText()).find());
        Matcher m = resumed.matcher(other.logText());
        assertThat(m.find()).isTrue();
        assertThat(Long.parseLong(m.group(1))).as("continues from the dead node's checkpoint").isGreaterThan(12 * MIB);
        other.awaitIdle();
        assertThat(states(other).toString()).isEqualTo("{m-0.img=faulty, m-1.img=in_sync, m-2.img=in_sync}");
        assertThat(mdstat(other)).contains("[2/2] [UU]");
        assertThat(other.check()).isZero();
    }

    /**
     * A member returns write errors on node 1 only, while both nodes write: node 1 fails it, and
     * node 2 stops using it before node 1's failing write is acknowledged. No request fails, no
     * acknowledged write is lost (the history holds), and both nodes show [U_]. Then 02r1_Manage_re-add:
     * the member is removed, both nodes write while it is out, and re-added on node 1 it is rebuilt
     * from the bitmaps only (every node's slot: what node 2 wrote is in node 2's), not fully; both
     * nodes end [UU] with the legs identical.
     */
    @Test
    void memberFailsOnOneNode_faultyEverywhere_noAcknowledgedWriteLost_thenReAdd() throws Exception {
        List<Path> p = create(64 * MIB, 0, "--assume-clean");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, p), node(c, 2, p));
        Path out = dir.resolve("eio.jsonl");
        Path control = Files.createDirectories(dir.resolve("control"));
        Process client = new ProcessBuilder("/usr/bin/python3", CLIENT.toString(), "--uris",
                String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks", "4096", "--seconds", "12",
                "--seed", "9", "--out", out.toString(), "--control-dir", control.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("client.log").toFile()).start();
        running.add(() -> {
            client.destroyForcibly();
            client.waitFor(10, TimeUnit.SECONDS);
        });
        Thread.sleep(3000);
        nodes.get(0).fault(p.get(1), "fail-writes");
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=faulty}");
        assertThat(client.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String log = Files.readString(dir.resolve("client.log"));
        assertThat(client.exitValue()).as(log).isZero();
        assertThat(log).contains("failed=0");
        HistoryChecker.Report report = HistoryChecker.check(History.load(out));
        assertThat(report.ok()).as(report.describe(20)).isTrue();
        assertThat(report.writesAcknowledged()).isGreaterThan(500);
        assertThat(nodes.get(0).logText()).contains("member marked faulty");
        assertThat(nodes.get(1).logText()).contains("m-1.img: marked faulty by another node");
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("[2/1] [U_]");
        }
        nodes.get(0).fault(p.get(1), "healthy");

        ok(nodes.get(0).ctl("remove", p.get(1).toString()));
        awaitStates(nodes, "{m-0.img=in_sync}");
        // 3 MiB from node 2 at 48 MiB (chunks 48-50, past the history's 16 MiB, in node 2's slot only)
        pwrite(nodes.get(1), 48 * MIB, 3 << 20, 0x33);
        ok(nodes.get(0).ctl("re-add", p.get(1).toString()));
        awaitStates(nodes, "{m-0.img=in_sync, m-1.img=in_sync}");
        for (Daemon d : nodes) {
            d.awaitIdle();
        }
        Pattern recovered = Pattern.compile("m-1.img: bitmap-based recovery of (\\d+) MiB");
        long mib = -1;
        for (Daemon d : nodes) {
            Matcher m = recovered.matcher(d.logText());
            if (m.find()) {
                mib = Long.parseLong(m.group(1));
            }
            assertThat(d.logText()).doesNotContain("m-1.img: full recovery");
        }
        assertThat(mib).as("the chunks written while it was out (the history's 16 and node 2's 3), not all 64")
                .isBetween(3L, 19L);
        assertThat(Daemon.dataArea(p.get(0), 64 * MIB)).isEqualTo(Daemon.dataArea(p.get(1), 64 * MIB));
        assertThat(pread(nodes.get(0), 49 * MIB, 4096)).containsOnly((byte) 0x33);
        assertThat(nodes.get(1).check()).isZero();
    }

    /**
     * Node 3 is not given the directory the new device is in: the add on node 1 is refused, names
     * node 3, and changes nothing (no node lists the device; the device carries no md superblock, as
     * before). Then node 3 is killed with kill -9 and the add races its death: until its death is
     * noticed it cannot confirm, so the add is either refused again (nothing changed) and then done
     * when tried again, or goes through once node 3's locks are gone; never half done. The two
     * survivors rebuild the member and check = 0. Node 3, started again with its old member list and
     * still without that directory, refuses to start rather than fail the new member.
     */
    @Test
    void add_deviceOneNodeCannotSee_refusedNamingIt_thenRacingItsDeath() throws Exception {
        List<Path> p = create(64 * MIB, 0, "--assume-clean");
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        Path fresh = MemberFiles.sparse(elsewhere, "new-", 1, 64 * MIB).get(0);
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, p), node(c, 2, p, "--device-path", elsewhere.toString()),
                node(c, 3, p));
        ok(nodes.get(0).ctl("fail", p.get(1).toString()));
        ok(nodes.get(0).ctl("remove", p.get(1).toString()));
        awaitStates(nodes, "{m-0.img=in_sync}");

        Processes.Result refused = nodes.get(0).ctl("add", fresh.toString());
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).contains("cannot add " + fresh, "node node3 (slot 2) cannot see it",
                "--device-path", "nothing was changed");
        for (Daemon d : nodes) {
            assertThat(states(d).toString()).isEqualTo("{m-0.img=in_sync}");
        }
        Processes.Result examine = Processes.run(List.of("mdadm", "--examine", fresh.toString()));
        assertThat(examine.exitCode()).as("the refused device is as it was").isNotZero();

        nodes.get(2).kill9();
        List<Daemon> survivors = nodes.subList(0, 2);
        Processes.Result racing = nodes.get(0).ctl("add", fresh.toString());
        if (racing.exitCode() != 0) {
            assertThat(racing.stderr()).contains("cannot add", "nothing was changed");
            for (Daemon d : survivors) {
                assertThat(states(d).toString()).isEqualTo("{m-0.img=in_sync}");
            }
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofSeconds(1))
                    .until(() -> nodes.get(0).ctl("add", fresh.toString()).exitCode() == 0);
        }
        examined.add(fresh);
        awaitStates(survivors, "{m-0.img=in_sync, new-0.img=in_sync}");
        for (Daemon d : survivors) {
            d.awaitIdle();
        }
        assertThat(survivors.get(1).check()).isZero();
        assertThat(MemberMetadataReader.read(fresh).superblock().devNumber()).isEqualTo(2);
        // node 3 back with its old members and still without the directory: it does not start
        // (it would fail the new member for everyone), and says what to give it
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> node(c, 3, p))
                .hasMessageContaining("member 2 (role 1) of array")
                .hasMessageContaining("is neither among the members given nor in")
                .hasMessageContaining("--device-path");
        assertThat(states(survivors.get(0)).toString()).isEqualTo("{m-0.img=in_sync, new-0.img=in_sync}");
    }

    /**
     * 01r1_Grow_bitmap-switch: with the array stopped on both nodes, its clustered bitmap goes
     * (mdadm reads no bitmap), it runs on one node without a lock manager, gets an internal bitmap,
     * runs again, loses it, and gets a clustered one back; then both nodes assemble it again. Every
     * step keeps the data; a switch while a daemon runs the array is refused.
     */
    @Test
    void growBitmapSwitch_clusteredNoneInternalNoneClustered_dataKept() throws Exception {
        List<Path> p = create(64 * MIB, 0, "--assume-clean");
        String a = p.get(0).toString();
        String b = p.get(1).toString();
        Coordinator c = coordinator();
        Daemon one = node(c, 1, p);
        Daemon two = node(c, 2, p);
        byte[] data = writeThrough(two, 4 << 20, 31);
        String[] busy = ctlOffline("grow", "--bitmap=none", a, b);
        assertThat(busy[0]).isEqualTo("1");
        assertThat(busy[2]).contains("in use", "stop the array on every node first");
        assertThat(one.terminate()).isZero();
        assertThat(two.terminate()).isZero();

        String[] none = ctlOffline("grow", "--bitmap=none", a, b);
        assertThat(none[0]).as(none[2]).isEqualTo("0");
        assertThat(none[2]).contains("bitmap changed from clustered to none on 2 member(s)");
        assertThat(examine(p.get(0))).contains("Feature Map : 0x0\n").doesNotContain("Cluster Name", "Internal Bitmap");
        Daemon single = Daemon.start(dir.resolve("single1"), "shared", p);
        running.add(single);
        byte[] more = writeThrough(single, 2 << 20, 32);
        assertThat(single.terminate()).isZero();

        String[] internal = ctlOffline("grow", "--bitmap=internal", a, b);
        assertThat(internal[0]).as(internal[2]).isEqualTo("0");
        assertThat(examine(p.get(1))).contains("Feature Map : 0x1\n", "Internal Bitmap : 8 sectors from superblock")
                .doesNotContain("Cluster Name");
        single = Daemon.start(dir.resolve("single2"), "shared", p);
        running.add(single);
        assertThat(ok(single.ctl("status")).stdout()).contains("bitmap: ");
        assertThat(readThrough(single, more.length)).isEqualTo(more);
        assertThat(single.terminate()).isZero();

        assertThat(ctlOffline("grow", "--bitmap=none", a, b)[0]).isEqualTo("0");
        String[] clustered = ctlOffline("grow", "--bitmap=clustered", "--nodes=4", "--home-cluster=test", a, b);
        assertThat(clustered[0]).as(clustered[2]).isEqualTo("0");
        assertThat(clustered[2]).contains("from none to clustered on 2 member(s) (4 node slots)");
        String[] again = ctlOffline("grow", "--bitmap=clustered", "--home-cluster=test", a, b);
        assertThat(again[0]).isEqualTo("1");
        assertThat(again[2]).contains("already has a clustered bitmap");

        List<Daemon> nodes = List.of(node(c, 1, p), node(c, 2, p));
        for (Daemon d : nodes) {
            assertThat(mdstat(d)).contains("[2/2] [UU]");
            assertThat(d.status().get("cluster").get("nodes")).hasSize(2);
        }
        assertThat(readThrough(nodes.get(1), more.length)).isEqualTo(more);
        assertThat(java.util.Arrays.copyOfRange(readThrough(nodes.get(0), data.length), more.length, data.length))
                .isEqualTo(java.util.Arrays.copyOfRange(data, more.length, data.length));
        assertThat(nodes.get(0).check()).isZero();
        for (Path m : p) {
            assertThat(examine(m)).contains("Feature Map : 0x101", "Cluster Name : test");
        }
    }

    private static long exportSize(Daemon d) {
        return Long.parseLong(ok(Processes.run(List.of("nbdinfo", "--size", d.nbdUri()))).stdout().trim());
    }

    /** Through libnbd (the system's python3: the one with its binding), as the history client does. */
    private static Processes.Result nbd(Daemon d, String code) {
        return ok(Processes.run(List.of("/usr/bin/python3", "-c", "import nbd, sys\nh = nbd.NBD()\n"
                + "h.connect_uri(sys.argv[1])\n" + code + "\nh.shutdown()", d.nbdUri())));
    }

    private static void pwrite(Daemon d, long offset, int length, int value) {
        nbd(d, "h.pwrite(bytes([" + value + "]) * " + length + ", " + offset + ")");
    }

    private static byte[] pread(Daemon d, long offset, int length) {
        return java.util.HexFormat.of().parseHex(nbd(d, "print(h.pread(" + length + ", " + offset + ").hex())")
                .stdout().trim());
    }

    private static void awaitSize(List<Daemon> nodes, long bytes) {
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            for (Daemon d : nodes) {
                assertThat(d.status().get("arraySizeKib").asLong()).as(d.name).isEqualTo(bytes >> 10);
                assertThat(exportSize(d)).as("NBD export size on " + d.runDir).isEqualTo(bytes);
            }
        });
    }

    /**
     * 01r1_Grow_resize: an array using 32 MiB of 64 MiB members grows to --size=max on node 1: every
     * node serves the new size (a new NBD connection sees it), node 1 resyncs the new part, and data
     * written there through node 2 reads back through node 1. Shrinking is done when the part cut off
     * holds only zeroes, refused (nothing changed) while it holds data, and done with --force; no sync.
     */
    @Test
    void growResize_toMaxAndBack_everyNodeServesTheNewSize() throws Exception {
        List<Path> p = create(64 * MIB, 0, "--assume-clean", "--size=32M");
        Coordinator c = coordinator();
        List<Daemon> nodes = List.of(node(c, 1, p), node(c, 2, p));
        byte[] data = writeThrough(nodes.get(0), 2 << 20, 41);
        awaitSize(nodes, 32 * MIB);
        long max = MemberMetadataReader.read(p.get(0)).superblock().dataSize() * 512 / 1024 * 1024;
        // a part that holds nothing but zeroes is given up without --force
        ok(nodes.get(1).ctl("grow", "--size=40M"));
        awaitSize(nodes, 40 * MIB);
        ok(nodes.get(1).ctl("grow", "--size=32M"));
        awaitSize(nodes, 32 * MIB);

        Processes.Result grown = ok(nodes.get(0).ctl("grow", "--size=max"));
        assertThat(grown.stderr()).contains("component size of md-shared has been set to " + (max >> 10) + "K");
        awaitSize(nodes, max);
        nodes.get(0).awaitIdle();
        assertThat(nodes.get(0).logText()).contains("resyncing the new part", "resync of");
        assertThat(nodes.get(1).logText()).contains("changed by another node", "capacity");
        pwrite(nodes.get(1), 40 * MIB, 65536, 0x5a);
        assertThat(pread(nodes.get(0), 40 * MIB, 65536)).containsOnly((byte) 0x5a);
        assertThat(nodes.get(1).check()).isZero();

        Processes.Result refused = nodes.get(1).ctl("grow", "--size=32M");
        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.stderr()).contains("holds data at byte " + 40 * MIB, "nothing was changed", "--force");
        awaitSize(nodes, max);
        ok(nodes.get(1).ctl("grow", "--size=32M", "--force"));
        awaitSize(nodes, 32 * MIB);
        ok(nodes.get(0).ctl("grow", "--size=48M"));
        awaitSize(nodes, 48 * MIB);
        // What was cut off is still on the members (as with md): grown again, it is back, the same on
        // every node, so shrinking again needs --force again.
        assertThat(pread(nodes.get(1), 40 * MIB, 65536)).containsOnly((byte) 0x5a);
        assertThat(nodes.get(0).ctl("grow", "--size=32M").exitCode()).isEqualTo(1);
        ok(nodes.get(0).ctl("grow", "--size=32M", "--force"));
        awaitSize(nodes, 32 * MIB);
        for (Daemon d : nodes) {
            d.awaitIdle();
            assertThat(mdstat(d)).contains("[2/2] [UU]", "32768 blocks");
        }
        assertThat(readThrough(nodes.get(1), data.length)).isEqualTo(data);
        assertThat(nodes.get(0).check()).isZero();
        assertThat(MemberMetadataReader.read(p.get(1)).superblock().size()).isEqualTo(32 * MIB / 512);
    }
}
