package io.clustermd.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * nbdcopy (libnbd; 4 connections with many requests in flight when the server offers multi-conn)
 * copies 1 GiB of random data into the O_DIRECT export and back out, checked by SHA-256.
 */
class NbdcopyTest {
    private static final long SIZE = 1L << 30;

    @TempDir
    Path dir;

    private static String sha256(Path p) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (DigestInputStream in = new DigestInputStream(Files.newInputStream(p), md)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    @Test
    void nbdcopy_oneGibOfRandomDataInAndOut_checksumsMatch() throws Exception {
        Path src = dir.resolve("src.img");
        SplittableRandom rnd = new SplittableRandom(2026);
        byte[] chunk = new byte[1 << 20];
        try (OutputStream o = Files.newOutputStream(src)) {
            for (long w = 0; w < SIZE; w += chunk.length) {
                rnd.nextBytes(chunk);
                o.write(chunk);
            }
        }
        String want = sha256(src);
        Path back = dir.resolve("back.img");
        // The default transport of clustermd export-file: io_uring for the socket and the file.
        try (TestServer srv = new TestServer(dir, SIZE, NbdServerConfig.DEFAULTS, NbdServer.resolve(NbdServer.Transport.AUTO))) {
            Duration t = Duration.ofMinutes(4);
            String in = Proc.ok(t, "nbdcopy", "--flush", src.toString(), srv.tcpUri(""));
            assertThat(in).doesNotContain("error");
            Files.delete(src);
            assertThat(sha256(srv.file)).as("the served file holds what nbdcopy wrote").isEqualTo(want);
            Proc.ok(t, "nbdcopy", srv.unixUri(""), back.toString());
            assertThat(sha256(back)).as("what nbdcopy read back").isEqualTo(want);
        } finally {
            Files.deleteIfExists(back);
            Files.deleteIfExists(dir.resolve("disk.img"));
        }
    }
}
