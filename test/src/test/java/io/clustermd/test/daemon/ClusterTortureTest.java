package io.clustermd.test.daemon;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ClusterTorture} rounds. In the suite: one round of each kind (a kill mid-write, a second
 * kill of the node resyncing the first one's chunks, a kill of the node rebuilding a spare). {@code scripts/torture cluster}
 * runs many through the same test: {@code -Dtorture.rounds=N -Dtorture.seed=S
 * -Dtorture.results=FILE} (one JSON line per round appended to FILE, the table printed).
 */
class ClusterTortureTest {

    static final long SEED = 22_120_700;

    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ON_SUCCESS)
    Path dir;

    @Test
    void killNodesMidWriteAndDuringResync_contractHolds_noMismatch_recoveryStartsInTime() throws Exception {
        int rounds = Integer.getInteger("torture.rounds", 0);
        long seed = Long.getLong("torture.seed", SEED);
        String results = System.getProperty("torture.results");
        List<ClusterTorture.Round> done = new ArrayList<>();
        try (Coordinator c = Coordinator.start(dir)) {
            ClusterTorture torture = new ClusterTorture(dir, c, Integer.getInteger("torture.level", 1));
            if (rounds == 0) {
                done.add(torture.run(seed, "mid-write"));
                done.add(torture.run(seed + 1, "during-resync"));
                done.add(torture.run(seed + 2, "during-recovery"));
            } else {
                for (int i = 0; i < rounds; i++) {
                    ClusterTorture.Round r = torture.run(seed + i);
                    done.add(r);
                    System.out.println("round " + (i + 1) + "/" + rounds + ": " + r.json());
                    if (results != null) {
                        Files.writeString(Path.of(results), r.json() + "\n", StandardOpenOption.CREATE,
                                StandardOpenOption.APPEND);
                    }
                }
            }
        }
        System.out.println(ClusterTorture.table(done));
        for (ClusterTorture.Round r : done) {
            String what = "seed " + r.seed() + " (" + r.kind() + "; repeat: scripts/torture cluster --rounds 1 --seed "
                    + r.seed() + "; logs in " + dir + "): " + r.json()
                    + (r.violationText() == null ? "" : "\n" + r.violationText());
            assertThat(r.ok()).as(what).isTrue();
            assertThat(r.recoveryStartMs()).as(what).isNotEmpty().allMatch(ms -> ms <= 8_000);
        }
    }
}
