package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code kill -9} of the daemon in every sync phase (initial resync, bitmap resync, recovery of an
 * added member, re-add recovery, check, repair, resync without a bitmap), through a few seeded rounds of
 * {@code scripts/torture raid1} (the long randomised runs are not part of the suite). Each round
 * restarts the daemon, waits for idle with a deadline derived from the work left, and requires
 * {@code check} = 0 mismatches, every acknowledged write intact and a stop within its bound. A
 * failing round prints the seed and the command that repeats it.
 */
class SyncCrashTortureTest {

    static final long SEED = 2_312_000; // seven consecutive seeds: one round per phase

    @TempDir
    Path dir;

    @Test
    void kill9InEverySyncPhase_restartResumesToIdleInTime_noMismatchNoLostAcknowledgedWrite() throws Exception {
        Processes.Result r = Processes.run(List.of(Daemon.ROOT.resolve("scripts/torture").toString(), "raid1",
                "--rounds", "7", "--seed", Long.toString(SEED), "--json"), null, Map.of("TORTURE_DIR", dir.toString()));
        String report = r.stdout() + "\n" + r.stderr();
        List<JsonNode> rounds = new ArrayList<>();
        for (String line : r.lines()) {
            if (line.startsWith("{")) {
                rounds.add(new ObjectMapper().readTree(line));
            }
        }
        assertThat(rounds).as(report).hasSize(7);
        Set<String> phases = new TreeSet<>();
        int killedMidAction = 0;
        for (JsonNode round : rounds) {
            String what = "seed " + round.get("seed").asLong() + " (" + round.get("phase").asText() + "): "
                    + round + "\n" + report;
            assertThat(round.get("error").isNull()).as(what).isTrue();
            assertThat(round.get("hang").asBoolean()).as(what).isFalse();
            assertThat(round.get("lost").asLong()).as(what).isZero();
            assertThat(round.get("mismatches").asLong()).as(what).isZero();
            assertThat(round.get("ok").asBoolean()).as(what).isTrue();
            phases.add(round.get("phase").asText());
            killedMidAction += round.get("killed_mid_action").asBoolean() ? 1 : 0;
        }
        assertThat(phases).containsExactlyInAnyOrder("initial-resync", "bitmap-resync", "recovery-add",
                "recovery-readd", "check", "repair", "resync-nobitmap");
        assertThat(killedMidAction).as("rounds whose kill hit a running action\n" + report).isGreaterThanOrEqualTo(5);
        assertThat(r.exitCode()).as(report).isZero();
    }
}
