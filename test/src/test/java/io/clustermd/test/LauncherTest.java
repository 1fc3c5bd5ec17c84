package io.clustermd.test;

import io.clustermd.md.MemberFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The launchers in bin/ run the built jars from any directory, as a user runs them. */
class LauncherTest {

    static final Path ROOT = Path.of(System.getProperty("clustermd.root", "..")).toAbsolutePath().normalize();

    @TempDir
    Path dir;

    @Test
    void clusterctl_fromAnotherDirectory_createsAndExamines() {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 64L << 20);
        String ctl = ROOT.resolve("bin/clusterctl").toString();

        Processes.Result create = Processes.run(List.of(ctl, "create", "--level=1", "--raid-devices=2",
                "--name=launch", "--home-cluster=c1", "m0.img", "m1.img"), dir, Map.of());
        assertThat(create.exitCode()).as(create.stderr()).isZero();

        Processes.Result examine = Processes.run(List.of(ctl, "examine", "m0.img"), dir, Map.of());
        assertThat(examine.exitCode()).isZero();
        assertThat(examine.stdout()).startsWith("m0.img:\n").contains("Feature Map : 0x101");
        assertThat(members).allMatch(p -> p.toFile().length() == 64L << 20);
    }

    @Test
    void clusterctl_badMember_failsWithOneLineOnStderr() {
        Processes.Result r = Processes.run(List.of(ROOT.resolve("bin/clusterctl").toString(), "examine",
                "nonexistent.img"), dir, Map.of());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.stderr().strip()).isEqualTo("clusterctl: nonexistent.img: no such file or device");
        assertThat(r.stdout()).isEmpty();
    }

    @Test
    void launchers_withOnlyAnOldJdkOnPath_stillFindAJdk21() {
        // JAVA_HOME unset and PATH without a new java: the launcher must look under /usr/lib/jvm itself.
        Processes.Result r = Processes.run(List.of(ROOT.resolve("bin/clustermd").toString(), "--version"), dir,
                Map.of("JAVA_HOME", "", "PATH", "/usr/bin:/bin"));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout()).startsWith("clustermd ");
    }
}
