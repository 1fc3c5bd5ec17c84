package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Crash safety of raid10 in each layout mdadm makes (near, far, offset) through the real daemon:
 * {@code kill -9} while the initial resync runs under fio's QD32 random writes and a FUA writer,
 * then again during the restarted resync and during steady writes. After every restart each
 * acknowledged FUA write reads back; at the end the resync has finished and {@code check} finds
 * every copy identical (mismatch_cnt 0).
 */
class Raid10CrashTest {

    static final long MIB = 1L << 20;
    static final int FUA_BLOCKS = 48;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} on {1} members")
    @CsvSource({"n2,3", "f2,3", "o2,4"})
    void canRecoverAfterKill9InEveryPhase(String layout, int devices) throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", devices, 48 * MIB);
        List<String> create = new ArrayList<>(List.of("create", "--level=10", "--layout=" + layout, "--chunk=64K",
                "--raid-devices=" + devices, "--bitmap=internal", "--bitmap-chunk=1M", "--name=r10crash"));
        members.forEach(m -> create.add(m.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(create.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(err))).as(err.toString()).isZero();

        Random random = new Random(layout.hashCode());
        String pendingAcks = "";
        String[] phases = {"initial resync", "restarted resync", "steady writes"};
        for (int round = 0; round <= phases.length; round++) {
            // A slow resync in the first two rounds, so the kill lands in it.
            String speed = round < 2 ? "2000" : "1000000";
            try (Daemon d = Daemon.start(dir, "r10crash", members, "--speed-limit-min", speed,
                    "--speed-limit-max", speed)) {
                if (!pendingAcks.isEmpty()) {
                    Processes.Result v = Daemon.python("verify_blocks.py", List.of(d.nbdUri()), pendingAcks);
                    assertThat(v.stdout()).as("acknowledged FUA writes before kill %d (%s)", round, v.stderr())
                            .doesNotContain("MISMATCH").contains("CHECKED " + pendingAcks.lines().count());
                }
                if (round == phases.length) {
                    d.awaitIdle();
                    assertThat(d.check()).as("mismatch_cnt after the last restart").isZero();
                    assertThat(d.terminate()).isZero();
                    break;
                }
                if (round == 2) {
                    d.awaitIdle();
                } else {
                    assertThat(d.status().path("sync").path("action").asText()).as("phase " + phases[round])
                            .isEqualTo("resync");
                }
                long fuaRegion = 4 * MIB + round * FUA_BLOCKS * 4096L;
                CrashLoad load = CrashLoad.start(d, dir, round, 16 * MIB, 16 * MIB, fuaRegion, FUA_BLOCKS);
                Thread.sleep(800 + random.nextInt(1200));
                d.kill9();
                String acks = load.acknowledged();
                assertThat(acks).as("writes acknowledged before kill %d", round).isNotEmpty();
                pendingAcks = acks;
            }
        }
    }
}
