package io.clustermd.test.interop;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import io.clustermd.test.Processes.LoopDevice;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterTry;
import net.jqwik.api.lifecycle.BeforeTry;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.statistics.StatisticsReport;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Interop with the system's own mdadm: after {@code clusterctl create} on files, {@code mdadm
 * --examine} agrees with {@code clusterctl examine} line for line and reports what we wrote, and
 * {@code mdadm --examine-bitmap} through a read-only loop device agrees with {@code clusterctl
 * examine-bitmap} on every slot.
 */
class MdadmInteropTest {

    private Path dir;

    @BeforeTry
    void makeDir() throws IOException {
        dir = Files.createTempDirectory("clustermd-interop");
    }

    @AfterTry
    void removeDir() throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** One create command line. */
    record Shape(int level, String layout, String chunk, int devices, String bitmap, int nodes, long memberMiB,
                 String bitmapChunk, boolean assumeClean) {
    }

    @Provide
    Arbitrary<Shape> shapes() {
        Arbitrary<Integer> level = Arbitraries.of(1, 10);
        Arbitrary<Integer> devices = Arbitraries.integers().between(2, 4);
        Arbitrary<String> bitmap = Arbitraries.of("clustered", "clustered", "internal", "none");
        Arbitrary<Integer> nodes = Arbitraries.integers().between(2, 8);
        // Sizes cross mdadm's thresholds: bitmap space 4K / 64K (> 8 GiB) / 128K (>= 200 GiB), headroom halving.
        Arbitrary<Long> size = Arbitraries.of(8L, 64L, 100L, 1000L, 3000L, 9000L, 210_000L);
        Arbitrary<String> bitmapChunk = Arbitraries.of("default", "default", "64M", "4M", "1M");
        Arbitrary<String> chunk = Arbitraries.of("64K", "512K", "128K");
        Arbitrary<Boolean> clean = Arbitraries.of(true, false);
        return Combinators.combine(level, devices, bitmap, nodes, size, bitmapChunk, chunk, clean)
                .as((l, d, b, n, s, bc, c, ac) -> {
                    String layout = l == 10 ? (d >= 3 && n % 2 == 0 ? "n3" : "n2") : null;
                    return new Shape(l, layout, l == 10 ? c : null, d, b, n, s, b.equals("none") ? "default" : bc, ac);
                });
    }

    @Property(tries = 30, seed = "20261121")
    @StatisticsReport(onFailureOnly = false)
    void mdadmAgreesWithWhatClusterctlCreated(@ForAll("shapes") Shape shape) {
        // The comparison must actually run for most shapes and for every kind of array.
        Statistics.label("created").coverage(c -> c.check(true).percentage(p -> p >= 60));
        Statistics.label("outcome").coverage(c -> {
            c.check("created clustered raid1").count(n -> n >= 1);
            c.check("created clustered raid10").count(n -> n >= 1);
        });
        Statistics.label("created bitmap").coverage(c -> {
            c.check("clustered").count(n -> n >= 3);
            c.check("internal").count(n -> n >= 1);
            c.check("none").count(n -> n >= 1);
        });
        List<Path> members = MemberFiles.sparse(dir, "m", shape.devices(), shape.memberMiB() << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=" + shape.level(),
                "--raid-devices=" + shape.devices(), "--bitmap=" + shape.bitmap(), "--name=interop"));
        if (shape.bitmap().equals("clustered")) {
            args.add("--nodes=" + shape.nodes());
            args.add("--home-cluster=cluster" + shape.nodes());
        }
        if (shape.layout() != null) {
            args.add("--layout=" + shape.layout());
            args.add("--chunk=" + shape.chunk());
        }
        if (!shape.bitmapChunk().equals("default")) {
            args.add("--bitmap-chunk=" + shape.bitmapChunk());
        }
        if (shape.assumeClean()) {
            args.add("--assume-clean");
        }
        members.forEach(m -> args.add(m.toString()));
        List<String> before = MemberFiles.fingerprints(members);

        Ctl created = ctl(args);
        Statistics.label("outcome").collect(created.rc() == 0 ? "created " + shape.bitmap() + " raid" + shape.level()
                : "refused");
        Statistics.label("created").collect(created.rc() == 0);
        if (created.rc() == 0) {
            Statistics.label("created bitmap").collect(shape.bitmap());
        }
        if (created.rc() != 0) {
            // A shape mdadm's rules cannot hold (bitmap chunk too small, slots do not fit): a clear
            // one-line refusal and untouched members.
            assertThat(created.err()).startsWith("clusterctl: ").doesNotContain("Exception");
            assertThat(created.err()).containsAnyOf("bitmap", "too small");
            assertThat(MemberFiles.fingerprints(members)).isEqualTo(before);
            return;
        }

        for (Path member : members) {
            Processes.Result mdadm = Processes.check(List.of("mdadm", "--examine", member.toString()));
            Ctl ours = ctl(List.of("examine", member.toString()));
            assertThat(ours.rc()).as(ours.err()).isZero();
            assertThat(ours.out().lines().toList()).containsExactlyElementsOf(mdadm.lines());

            String text = mdadm.stdout();
            assertThat(text).containsPattern("Checksum : [0-9a-f]+ - correct");
            assertThat(text).contains("Raid Level : raid" + shape.level(), "Raid Devices : " + shape.devices(),
                    "Name : ", ":interop");
            String featureMap = switch (shape.bitmap()) {
                case "clustered" -> "0x101";
                case "internal" -> "0x1";
                default -> "0x0";
            };
            assertThat(text).contains("Feature Map : " + featureMap + "\n");
            if (shape.bitmap().equals("clustered")) {
                assertThat(text).contains("Cluster Name : cluster" + shape.nodes());
            }
            assertThat(text).contains("State : " + (shape.assumeClean() ? "clean" : "active"));

            if (!shape.bitmap().equals("none")) {
                try (LoopDevice loop = new LoopDevice(member)) {
                    Processes.Result x = Processes.check(List.of("mdadm", "--examine-bitmap", loop.device()));
                    Ctl oursX = ctl(List.of("examine-bitmap", loop.device()));
                    assertThat(oursX.out().lines().toList()).containsExactlyElementsOf(x.lines());
                    if (shape.bitmap().equals("clustered")) {
                        assertThat(x.stdout()).contains("Version : 5", "Cluster nodes : " + shape.nodes(),
                                "Node Slot : " + (shape.nodes() - 1));
                        assertThat(x.stdout().split("Node Slot :", -1)).hasSize(shape.nodes() + 1);
                    } else {
                        assertThat(x.stdout()).contains("Version : 4");
                    }
                }
            }
        }
    }

    record Ctl(int rc, String out, String err) {
    }

    static Ctl ctl(List<String> args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        return new Ctl(rc, out.toString(), err.toString());
    }
}
