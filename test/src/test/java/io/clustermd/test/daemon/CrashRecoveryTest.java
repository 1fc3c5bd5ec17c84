package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Crash safety of the single-node daemon: {@code kill -9} at random moments while fio writes at
 * QD32 and a second client writes with FUA, twenty times, each followed by a restart. After each
 * restart the resync touches only chunks that writes could have dirtied, every FUA write that was
 * acknowledged reads back, and at the end {@code check} finds the mirrors identical.
 */
class CrashRecoveryTest {

    static final long MIB = 1L << 20;
    static final int KILLS = 20;
    static final long FIO_OFFSET = 64 * MIB;
    static final long FIO_SIZE = 32 * MIB;
    static final long FUA_BASE = 16 * MIB;
    static final int FUA_BLOCKS = 64;           // 256 KiB per round, a new region each round
    static final long BITMAP_CHUNK = MIB;
    static final Pattern RESYNC = Pattern.compile("resync of (\\d+) chunk\\(s\\) started");

    @TempDir
    Path dir;

    @Test
    void canRecoverAfterRepeatedKill9UnderLoad() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 160 * MIB);
        List<String> create = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--bitmap-chunk=1M", "--assume-clean", "--name=crash"));
        members.forEach(m -> create.add(m.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(create.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(err))).as(err.toString()).isZero();

        Random random = new Random(20261121);
        String pendingAcks = "";
        int resyncs = 0;
        long resyncedChunks = 0;
        for (int round = 0; round <= KILLS; round++) {
            // Chunks a crash can have left dirty: fio's region and every FUA region written so far (a
            // bit is cleared only after two idle 5 s passes, longer than a round lives, so bits of
            // earlier rounds stay set across kills, as they would in md).
            long fuaEnd = FUA_BASE + (long) round * FUA_BLOCKS * 4096L;
            long fuaChunks = round == 0 ? 0 : (fuaEnd - 1) / BITMAP_CHUNK - FUA_BASE / BITMAP_CHUNK + 1;
            long maxDirty = FIO_SIZE / BITMAP_CHUNK + fuaChunks;
            try (Daemon d = Daemon.start(dir, "crash", members)) {
                d.awaitIdle();
                Matcher m = RESYNC.matcher(d.logText());
                if (m.find()) {
                    long chunks = Long.parseLong(m.group(1));
                    assertThat(chunks).as("round %d resynced only dirty chunks", round).isBetween(1L, maxDirty);
                    resyncs++;
                    resyncedChunks += chunks;
                }
                if (!pendingAcks.isEmpty()) {
                    Processes.Result v = Daemon.python("verify_blocks.py", List.of(d.nbdUri()), pendingAcks);
                    assertThat(v.stdout()).as("acknowledged FUA writes of round %d (%s)", round - 1, v.stderr())
                            .doesNotContain("MISMATCH").contains("CHECKED " + pendingAcks.lines().count());
                }
                if (round == KILLS) {
                    assertThat(d.check()).isZero();
                    assertThat(d.terminate()).isZero();
                    break;
                }
                long fuaRegion = FUA_BASE + round * FUA_BLOCKS * 4096L;
                CrashLoad load = CrashLoad.start(d, dir, round, FIO_OFFSET, FIO_SIZE, fuaRegion, FUA_BLOCKS);
                Thread.sleep(700 + random.nextInt(1500));
                d.kill9();
                pendingAcks = load.acknowledged();
                Files.writeString(dir.resolve("acks-" + round + ".txt"), pendingAcks);
            }
        }
        assertThat(resyncs).as("restarts that found dirty chunks").isGreaterThanOrEqualTo(KILLS / 2);
        assertThat(resyncedChunks).isPositive();
    }
}
