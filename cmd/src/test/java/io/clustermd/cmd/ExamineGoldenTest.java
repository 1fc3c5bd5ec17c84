package io.clustermd.cmd;

import io.clustermd.md.ReferenceMembers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.TimeZone;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Golden tests: {@code clusterctl examine} and {@code examine-bitmap} on members made by the real
 * kernel print what mdadm printed for them, line for line (the device-name line aside).
 */
class ExamineGoldenTest {

    static final List<String> MEMBERS = ReferenceMembers.ALL;
    private static TimeZone saved;

    @TempDir
    static Path dir;

    @BeforeAll
    static void utc() {
        saved = TimeZone.getDefault();
        TimeZone.setDefault(TimeZone.getTimeZone("UTC")); // the captures were made on UTC machines
    }

    @AfterAll
    static void restore() {
        TimeZone.setDefault(saved);
    }

    static List<String> run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        assertThat(rc).as("exit code, stderr: %s", err).isZero();
        assertThat(err.toString()).isEmpty();
        return Arrays.asList(out.toString().split("\n", -1));
    }

    private static Path member(String name) {
        Path p = dir.resolve(name + ".img");
        return p.toFile().exists() ? p : ReferenceMembers.unpack(name, dir);
    }

    private static List<String> withoutFirstLine(List<String> lines) {
        List<String> l = lines;
        while (!l.isEmpty() && l.get(l.size() - 1).isEmpty()) {
            l = l.subList(0, l.size() - 1);
        }
        return l.subList(1, l.size());
    }

    @ParameterizedTest
    @FieldSource("MEMBERS")
    void examine_onTheCreatingNode_matchesMdadmThere(String name) {
        List<String> ours = run("examine", "--homehost", "node1", member(name).toString());
        assertThat(withoutFirstLine(ours)).containsExactlyElementsOf(
                withoutFirstLine(ReferenceMembers.capture(name, "node-examine")));
        assertThat(ours.get(0)).isEqualTo(member(name) + ":");
    }

    @ParameterizedTest
    @FieldSource("MEMBERS")
    void examine_onAnotherHost_matchesMdadmThere(String name) {
        List<String> ours = run("examine", "--homehost", "otherhost", member(name).toString());
        assertThat(withoutFirstLine(ours)).containsExactlyElementsOf(
                withoutFirstLine(ReferenceMembers.capture(name, "host-examine")));
    }

    @ParameterizedTest
    @FieldSource("MEMBERS")
    void examineBitmap_matchesMdadmOnBothHosts(String name) {
        List<String> ours = withoutFirstLine(run("examine-bitmap", member(name).toString()));
        assertThat(ours).containsExactlyElementsOf(withoutFirstLine(ReferenceMembers.capture(name, "node-examine-bitmap")));
        assertThat(ours).containsExactlyElementsOf(withoutFirstLine(ReferenceMembers.capture(name, "host-examine-bitmap")));
    }
}
