package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Overlapping writes from several NBD connections at once, on a real {@code clustermd run} with
 * each NBD transport: every leg must end up with the same data (ARCHITECTURE §3, "overlapping writes
 * are ordered"). Four libnbd connections send different bytes to the same eight 4 KiB blocks in every
 * round, all before any reply is awaited, over 512 blocks; afterwards the members' data areas are
 * compared byte for byte and a check must count no mismatch.
 */
class ConcurrentWritersDaemonTest {

    static final long MIB = 1L << 20;
    static final int BLOCKS = 512;

    @TempDir
    Path dir;

    @ParameterizedTest(name = "transport {0}")
    @ValueSource(strings = {"AUTO", "EPOLL", "NIO"})
    void sameBlocksFromFourConnections_everyLegHoldsTheSameData(String transport) throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m-", 2, 64 * MIB);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--assume-clean", "--name=same"));
        members.forEach(m -> args.add(m.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(err))).as(err.toString()).isZero();

        long mismatches;
        try (Daemon d = Daemon.start(dir, "same", members, "--transport", transport)) {
            Processes.Result r = Daemon.python("same_block_writers.py",
                    List.of(d.nbdUri(), "4", "1500", "8", Integer.toString(BLOCKS)), "");
            assertThat(r.exitCode()).as(r.stderr()).isZero();
            assertThat(r.stdout()).contains("DONE " + 4 * 1500 * 8);
            mismatches = d.check();
            assertThat(d.terminate()).isZero();
        }
        byte[] a = Daemon.dataArea(members.get(0), BLOCKS * 4096L);
        byte[] b = Daemon.dataArea(members.get(1), BLOCKS * 4096L);
        List<Integer> differing = new ArrayList<>();
        for (int i = 0; i < BLOCKS; i++) {
            if (Arrays.mismatch(a, i * 4096, (i + 1) * 4096, b, i * 4096, (i + 1) * 4096) >= 0) {
                differing.add(i);
            }
        }
        assertThat(differing).as("blocks that differ between the legs").isEmpty();
        assertThat(mismatches).as("mismatch_cnt of a check").isZero();
    }
}
