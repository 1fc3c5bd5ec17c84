package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Long operations followed from the command line: {@code clusterctl check --wait} and
 * {@code clusterctl wait} (mdadm's --wait) print progress lines with rate and ETA when the output is
 * not a terminal, then the result, and return once the array is idle.
 */
class SyncWaitDaemonTest {

    @TempDir
    Path dir;

    private Daemon daemon;

    @AfterEach
    void stop() throws InterruptedException {
        if (daemon != null) {
            daemon.close();
        }
    }

    @Test
    void checkWait_printsProgressLines_thenMismatchCount_andWaitReturnsWhenIdle() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "w-", 2, 256L << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--name=w"));
        members.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err)))
                .as(err.toString()).isZero();
        daemon = Daemon.start(dir, "w", members, "--speed-limit-min=40000", "--speed-limit-max=40000");
        // the initial resync runs at 40 MB/s for ~6 s: 'wait' follows it
        Processes.Result waited = daemon.ctl("wait");
        assertThat(waited.exitCode()).as(waited.stderr()).isZero();
        assertThat(waited.lines()).isNotEmpty().allSatisfy(l -> assertThat(l)
                .matches("resync +\\d+\\.\\d%  \\d+\\.\\d MiB/\\d+\\.\\d MiB  \\d+\\.\\d MB/s(  ETA \\d+:\\d\\d)?"));
        assertThat(waited.lines().size()).as("a line per 10%% or 10 s").isBetween(2, 13);
        assertThat(daemon.ctlHere("status").stdout()).doesNotContain("resync");

        Processes.Result check = daemon.ctl("check", "--wait");
        assertThat(check.exitCode()).as(check.stderr()).isZero();
        List<String> lines = check.lines();
        assertThat(lines.get(lines.size() - 1)).isEqualTo("check done on md-w: mismatch_cnt 0");
        assertThat(lines.subList(0, lines.size() - 1)).isNotEmpty()
                .allSatisfy(l -> assertThat(l).startsWith("check ").contains("MB/s"));
        assertThat(lines).anyMatch(l -> l.contains("ETA "));

        Processes.Result idle = daemon.ctl("wait");
        assertThat(idle.exitCode()).isZero();
        assertThat(idle.stdout()).isEmpty();
    }
}
