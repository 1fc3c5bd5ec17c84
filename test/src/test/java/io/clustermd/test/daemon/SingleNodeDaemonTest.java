package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.MdSuperblock;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The single-node daemon as a user runs it: bin/clustermd run on member files, real NBD clients
 * (nbdcopy, nbdsh through libnbd), clusterctl online commands, faults switched at runtime, and the
 * system's mdadm reading the members afterwards.
 */
class SingleNodeDaemonTest {

    static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private final List<Path> created = new ArrayList<>();

    /** After every scenario the system's mdadm reads each member exactly as clusterctl does. */
    @org.junit.jupiter.api.AfterEach
    void mdadmAgreesWithClusterctl() {
        for (Path p : created) {
            if (!Files.exists(p)) {
                continue;
            }
            Processes.Result mdadm = Processes.run(List.of("mdadm", "--examine", p.toString()));
            StringWriter ours = new StringWriter();
            ClusterCtl.run(new String[] {"examine", p.toString()}, new PrintWriter(ours),
                    new PrintWriter(new StringWriter()));
            assertThat(ours.toString().lines().toList()).as("examine of %s", p).isEqualTo(mdadm.lines());
        }
    }

    private List<Path> create(String name, int members, long size, String... extra) {
        List<Path> paths = MemberFiles.sparse(dir, name + "-", members, size);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=" + members,
                "--bitmap=internal", "--name=" + name));
        args.addAll(List.of(extra));
        paths.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err));
        assertThat(rc).as(err.toString()).isZero();
        created.addAll(paths);
        return paths;
    }

    private Path randomFile(String name, long bytes, long seed) throws Exception {
        Path p = dir.resolve(name);
        byte[] data = new byte[(int) bytes];
        new Random(seed).nextBytes(data);
        Files.write(p, data);
        return p;
    }

    /** The first {@code length} bytes of the array through NBD (bookworm's nbdcopy has no --length). */
    private static void readArray(Daemon d, long length, Path out) {
        Processes.check(List.of("bash", "-c", "nbdcopy \"$0\" - | head -c \"$1\" > \"$2\"",
                d.nbdUri(), Long.toString(length), out.toString()));
    }

    @Test
    void canServeMirroredDataOverNbd_andStopCleanly() throws Exception {
        List<Path> members = create("data", 2, 128 * MIB);
        Path in = randomFile("in.bin", 48 * MIB, 1);
        Path out = dir.resolve("out.bin");
        try (Daemon d = Daemon.start(dir, "data", members)) {
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
            readArray(d, 48 * MIB, out);
            assertThat(Files.mismatch(in, out)).isEqualTo(-1);
            assertThat(d.check()).isZero();

            // The members are claimed while served: a second daemon and a create are refused, and
            // the first daemon's data stays (checked on the members below).
            Path clustermd = Daemon.ROOT.resolve("bin/clustermd");
            Processes.Result second = Processes.run(List.of(clustermd.toString(), "run", "--run-dir",
                    dir.resolve("second").toString(), members.get(0).toString(), members.get(1).toString()));
            assertThat(second.exitCode()).isEqualTo(1);
            assertThat(second.stderr()).contains(members.get(0) + ": in use", "clusterctl stop");
            StringWriter err = new StringWriter();
            assertThat(ClusterCtl.run(new String[] {"create", "--level=1", "--raid-devices=2", "--name=over",
                    "--home-cluster=test", "--force", members.get(0).toString(), members.get(1).toString()},
                    new PrintWriter(new StringWriter()), new PrintWriter(err))).isNotZero();
            assertThat(err.toString()).contains(members.get(0) + ": in use");

            assertThat(d.terminate()).isZero();
            assertThat(d.logText()).contains("stopped cleanly");
        }
        // Both data areas hold the file; the system's mdadm sees a clean array with matching events.
        byte[] expected = Files.readAllBytes(in);
        assertThat(Daemon.dataArea(members.get(0), expected.length)).isEqualTo(expected);
        assertThat(Daemon.dataArea(members.get(1), expected.length)).isEqualTo(expected);
        for (Path m : members) {
            String examine = Processes.check(List.of("mdadm", "--examine", m.toString())).stdout();
            assertThat(examine).contains("State : clean", "Array State : AA", "- correct");
        }
        assertThat(MemberMetadataReader.read(members.get(0)).superblock().events())
                .isEqualTo(MemberMetadataReader.read(members.get(1)).superblock().events());
    }

    @Test
    void memberFailingWrites_goesFaulty_thenReAddRecoversByBitmap() throws Exception {
        List<Path> members = create("flaky", 2, 128 * MIB, "--bitmap-chunk=1M");
        Path in = randomFile("in.bin", 8 * MIB, 2);
        try (Daemon d = Daemon.start(dir, "flaky", members)) {
            d.fault(members.get(1), "fail-writes");
            Thread.sleep(400); // the switchboard polls every 100 ms
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));

            JsonNode s = d.status();
            assertThat(s.get("members").get(1).get("state").asText()).isEqualTo("faulty");
            assertThat(d.ctl("status").stdout()).contains("[2/1] [U_]");
            // The survivor's superblock, as the system's mdadm reads it, records the failure.
            assertThat(Processes.check(List.of("mdadm", "--examine", members.get(0).toString())).stdout())
                    .contains("Array State : A.");
            Path out = dir.resolve("out.bin");
            readArray(d, 8 * MIB, out);
            assertThat(Files.mismatch(in, out)).isEqualTo(-1);

            d.fault(members.get(1), "healthy");
            Thread.sleep(400);
            assertThat(d.ctl("remove", members.get(1).toString()).exitCode()).isZero();
            Processes.Result readd = d.ctl("re-add", members.get(1).toString());
            assertThat(readd.exitCode()).as(readd.stderr()).isZero();
            d.awaitIdle();
            assertThat(d.logText()).contains("bitmap-based recovery");
            assertThat(d.ctl("status").stdout()).contains("[2/2] [UU]");
            assertThat(d.check()).isZero();
            assertThat(d.terminate()).isZero();
        }
        assertThat(Daemon.dataArea(members.get(1), 8 * MIB)).isEqualTo(Files.readAllBytes(in));
    }

    @Test
    void addOfFreshMember_afterFailure_isFullyRecovered() throws Exception {
        List<Path> members = create("grow", 2, 96 * MIB);
        Path in = randomFile("in.bin", 16 * MIB, 3);
        Path fresh = MemberFiles.sparse(dir, "fresh-", 1, 96 * MIB).get(0);
        try (Daemon d = Daemon.start(dir, "grow", members)) {
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
            assertThat(d.ctl("fail", members.get(1).toString()).exitCode()).isZero();
            assertThat(d.ctl("remove", members.get(1).toString()).exitCode()).isZero();
            Processes.Result add = d.ctl("add", fresh.toString());
            assertThat(add.exitCode()).as(add.stderr()).isZero();
            d.awaitIdle();
            assertThat(d.logText()).contains("full recovery");
            assertThat(d.check()).isZero();
            assertThat(d.terminate()).isZero();
        }
        assertThat(Daemon.dataArea(fresh, 16 * MIB)).isEqualTo(Files.readAllBytes(in));
        assertThat(Processes.check(List.of("mdadm", "--examine", fresh.toString())).stdout())
                .contains("Device Role : Active device 1", "Array State : AA");
    }

    @Test
    void memberThatDisappears_isFailedAndDataStaysAvailable() throws Exception {
        List<Path> members = create("gone", 2, 96 * MIB);
        Path in = randomFile("in.bin", 8 * MIB, 4);
        try (Daemon d = Daemon.start(dir, "gone", members)) {
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
            d.fault(members.get(0), "gone");
            Thread.sleep(400);
            Path out = dir.resolve("out.bin");
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri())); // writes notice it
            readArray(d, 8 * MIB, out);
            assertThat(Files.mismatch(in, out)).isEqualTo(-1);
            assertThat(d.status().get("members").get(0).get("state").asText()).isEqualTo("faulty");
            assertThat(d.logText()).contains("member marked faulty");
        }
    }

    @Test
    void memberFileDeleted_whileRunning_isFailed() throws Exception {
        List<Path> members = create("deleted", 2, 96 * MIB);
        Path in = randomFile("in.bin", 4 * MIB, 6);
        try (Daemon d = Daemon.start(dir, "deleted", members)) {
            Files.delete(members.get(1));
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
                    .until(() -> d.status().get("members").get(1).get("state").asText().equals("faulty"));
            assertThat(d.logText()).contains("no longer names the member");
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
            Path out = dir.resolve("out.bin");
            readArray(d, 4 * MIB, out);
            assertThat(Files.mismatch(in, out)).isEqualTo(-1);
            assertThat(d.terminate()).isZero();
        }
    }

    @Test
    void memberOnAFullDisk_isFailedAndNoWriteIsLost() throws Exception {
        Path small = Files.createDirectories(dir.resolve("small-fs"));
        Processes.check(List.of("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small.toString()));
        try {
            Path a = MemberFiles.sparse(dir, "full-a", 1, 96 * MIB).get(0);
            Path b = MemberFiles.sparse(small, "full-b", 1, 96 * MIB).get(0); // sparse: 96 MiB on an 8 MiB disk
            StringWriter err = new StringWriter();
            assertThat(ClusterCtl.run(new String[] {"create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                    "--assume-clean", "--name=full", a.toString(), b.toString()}, new PrintWriter(new StringWriter()),
                    new PrintWriter(err))).as(err.toString()).isZero();
            created.add(a);
            Path in = randomFile("in.bin", 32 * MIB, 7);
            try (Daemon d = Daemon.start(dir, "full", List.of(a, b))) {
                Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
                assertThat(d.status().get("members").get(1).get("state").asText()).isEqualTo("faulty");
                assertThat(d.logText()).contains("No space left on device");
                Path out = dir.resolve("out.bin");
                readArray(d, 32 * MIB, out);
                assertThat(Files.mismatch(in, out)).isEqualTo(-1);
                assertThat(d.terminate()).isZero();
            }
            assertThat(Daemon.dataArea(a, 32 * MIB)).isEqualTo(Files.readAllBytes(in));
        } finally {
            Processes.run(List.of("umount", small.toString()));
        }
    }

    @Test
    void runRefusesBadMemberSets_withClearMessages() throws Exception {
        List<Path> a = create("a", 2, 64 * MIB);
        List<Path> b = create("b", 2, 64 * MIB);
        List<Path> clustered = MemberFiles.sparse(dir, "c-", 2, 64 * MIB);
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(new String[] {"create", "--level=1", "--raid-devices=2", "--name=c",
                "--home-cluster=x", clustered.get(0).toString(), clustered.get(1).toString()},
                new PrintWriter(new StringWriter()), new PrintWriter(err))).isZero();
        Path clustermd = Daemon.ROOT.resolve("bin/clustermd");
        List<String> before = MemberFiles.fingerprints(List.of(a.get(0), b.get(1), clustered.get(0)));

        Processes.Result mixed = Processes.run(List.of(clustermd.toString(), "run", "--run-dir",
                dir.resolve("r").toString(), a.get(0).toString(), b.get(1).toString()));
        assertThat(mixed.exitCode()).isEqualTo(1);
        assertThat(mixed.stderr()).contains("belongs to array", "different arrays");

        Processes.Result cl = Processes.run(List.of(clustermd.toString(), "run", "--run-dir",
                dir.resolve("r").toString(), clustered.get(0).toString(), clustered.get(1).toString()));
        assertThat(cl.exitCode()).isEqualTo(1);
        assertThat(cl.stderr()).contains("is clustered", "lock manager");

        Processes.Result missing = Processes.run(List.of(clustermd.toString(), "run", "--run-dir",
                dir.resolve("r").toString(), dir.resolve("nope.img").toString()));
        assertThat(missing.exitCode()).isEqualTo(1);
        assertThat(missing.stderr()).contains("nope.img: no such file or device");

        assertThat(MemberFiles.fingerprints(List.of(a.get(0), b.get(1), clustered.get(0)))).isEqualTo(before);
    }

    @Test
    void staleMember_isLeftOutUntilReAdded() throws Exception {
        List<Path> members = create("stale", 2, 96 * MIB);
        Path in = randomFile("in.bin", 4 * MIB, 5);
        try (Daemon d = Daemon.start(dir, "stale", List.of(members.get(0)))) {
            // Only one member: every superblock update moves events on without the other.
            assertThat(d.ctl("status").stdout()).contains("[2/1] [U_]");
            Processes.check(List.of("nbdcopy", in.toString(), d.nbdUri()));
            assertThat(d.terminate()).isZero();
        }
        long fresh = MemberMetadataReader.read(members.get(0)).superblock().events();
        assertThat(MemberMetadataReader.read(members.get(1)).superblock().events()).isLessThan(fresh - 1);
        try (Daemon d = Daemon.start(dir, "stale", members)) {
            assertThat(d.logText()).contains("stale", "re-add");
            assertThat(d.ctl("status").stdout()).contains("[2/1] [U_]");
            Processes.Result readd = d.ctl("re-add", members.get(1).toString());
            assertThat(readd.exitCode()).as(readd.stderr()).isZero();
            d.awaitIdle();
            assertThat(d.check()).isZero();
            assertThat(d.terminate()).isZero();
        }
        assertThat(Daemon.dataArea(members.get(1), 4 * MIB)).isEqualTo(Files.readAllBytes(in));
        MdSuperblock sb = MemberMetadataReader.read(members.get(1)).superblock();
        assertThat(sb.devRole(1)).isEqualTo(1);
    }
}
