package io.clustermd.test.daemon;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The load the single-node crash tests kill a daemon under: fio's 4 KiB random writes at QD32
 * through NBD, and a writer of distinct FUA blocks whose acknowledgements must survive the kill.
 */
final class CrashLoad {

    private final Process fio;
    private final Process writer;

    private CrashLoad(Process fio, Process writer) {
        this.fio = fio;
        this.writer = writer;
    }

    /** Starts both: fio over {@code [fioOffset, +fioSize)}, the FUA writer over {@code fuaBlocks} blocks from {@code fuaRegion}. */
    static CrashLoad start(Daemon d, Path logDir, int round, long fioOffset, long fioSize, long fuaRegion,
                           int fuaBlocks) throws IOException {
        Process fio = new ProcessBuilder("fio", "--name=load", "--ioengine=nbd", "--uri=" + d.nbdUri(),
                "--rw=randwrite", "--bs=4k", "--iodepth=32", "--offset=" + fioOffset, "--size=" + fioSize,
                "--time_based", "--runtime=60", "--randrepeat=0")
                .redirectErrorStream(true).redirectOutput(logDir.resolve("fio-" + round + ".log").toFile()).start();
        Process writer = new ProcessBuilder("/usr/bin/python3",
                Daemon.ROOT.resolve("test/src/test/resources/fua_writer.py").toString(), d.nbdUri(),
                Long.toString(fuaRegion), Integer.toString(fuaBlocks), Integer.toString(round))
                .redirectError(logDir.resolve("writer-" + round + ".err").toFile()).start();
        return new CrashLoad(fio, writer);
    }

    /** After the kill: waits for both to end; the FUA writes acknowledged ("OFFSET SHA256" lines). */
    String acknowledged() throws Exception {
        assertThat(fio.waitFor(60, TimeUnit.SECONDS)).as("fio ended after the kill").isTrue();
        String out = new String(writer.getInputStream().readAllBytes());
        assertThat(writer.waitFor(60, TimeUnit.SECONDS)).as("the FUA writer ended after the kill").isTrue();
        StringBuilder acks = new StringBuilder();
        out.lines().filter(l -> l.startsWith("ACK ")).forEach(l -> acks.append(l.substring(4)).append('\n'));
        return acks.toString();
    }
}
