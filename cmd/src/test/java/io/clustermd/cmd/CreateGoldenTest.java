package io.clustermd.cmd;

import io.clustermd.md.MemberFiles;
import io.clustermd.md.ReferenceMembers;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Golden tests of {@code clusterctl create} for raid10: on members of the reference members' size,
 * with the options mdadm was given for them (near, far and offset layouts, even and odd device
 * counts, internal and clustered bitmaps), {@code clusterctl examine} and {@code examine-bitmap}
 * print what mdadm printed for the members the kernel made — every line, once the values that are
 * random or of the moment (UUIDs, times, checksum, event counts) are set aside. So the geometry
 * (sizes, offsets, bitmap chunk and sync size, bad-block log, layout, roles) is md's to the sector.
 */
class CreateGoldenTest {

    @TempDir
    Path dir;

    /** Lines whose value is random or depends on when the array was made or how long it ran. */
    static final Pattern VARIABLE = Pattern.compile("^\\s*(Array UUID|Device UUID|UUID|Creation Time|Update Time"
            + "|Checksum|Events|Events Cleared|Filename) : .*$");

    static List<String> shapes() {
        return List.copyOf(new TreeMap<>(ReferenceMembers.RAID10).keySet());
    }

    private static List<String> normalized(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) {   // the device-name line
            out.add(VARIABLE.matcher(l).matches() ? l.substring(0, l.indexOf(" : ") + 3) + "*" : l.stripTrailing());
        }
        while (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) {
            out.remove(out.size() - 1);
        }
        return out;
    }

    private static List<String> ctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        assertThat(rc).as(err.toString()).isZero();
        return List.of(out.toString().split("\n", -1));
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void create_raid10_geometryMatchesWhatTheKernelMade(String shape) {
        int devices = ReferenceMembers.RAID10.get(shape);
        String layout = shape.substring(4, 6);
        boolean clustered = shape.endsWith("-clustered");
        List<Path> members = MemberFiles.sparse(dir, shape + "-", devices, 24644L * 1024);
        List<String> args = new ArrayList<>(List.of("create", "--level=10", "--layout=" + layout, "--chunk=64",
                "--raid-devices=" + devices, "--assume-clean", "--name=" + shape, "--homehost=labhost"));
        args.addAll(clustered ? List.of("--bitmap=clustered", "--nodes=4", "--home-cluster=labclu")
                : List.of("--bitmap=internal"));
        members.forEach(m -> args.add(m.toString()));
        ctl(args.toArray(String[]::new));

        for (int i = 0; i < devices; i++) {
            String ref = shape + "-" + i;
            List<String> examine = ctl("examine", "--homehost", "node1", members.get(i).toString());
            List<String> kernel = ReferenceMembers.capture(ref, "node-examine");
            if (clustered) {
                // md-cluster leaves its members "active" when the last node stops (as in the m2 reference).
                kernel = kernel.stream().map(l -> l.replace("State : active", "State : clean")).toList();
            }
            assertThat(normalized(examine)).as(ref).containsExactlyElementsOf(normalized(kernel));
            List<String> bitmap = ctl("examine-bitmap", members.get(i).toString());
            assertThat(normalized(bitmap)).as(ref + " bitmap")
                    .containsExactlyElementsOf(normalized(ReferenceMembers.capture(ref, "node-examine-bitmap")));
        }
    }
}
