package io.clustermd.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real NBD clients (libnbd's nbdinfo and nbdsh, qemu-img, qemu-io, fio's nbd engine) against a running
 * server with an O_DIRECT file export, over TCP and a unix socket. Each subclass picks a transport
 * (and with it the file I/O engine).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class RealClientTests {
    /** The transport under test. */
    abstract NbdServer.Transport transport();
    private static final long SIZE = 256L << 20;
    private static final Duration T = Duration.ofMinutes(3);

    Path dir;
    TestServer srv;

    @BeforeAll
    void start(@TempDir Path tmp) throws Exception {
        dir = tmp;
        srv = new TestServer(dir, SIZE, NbdServerConfig.DEFAULTS, transport());
    }

    @AfterAll
    void stop() throws Exception {
        srv.close();
        assertThat(srv.server.connectionCount()).isZero();
    }

    /** io_uring file I/O adds trim and fast zero (fallocate). */
    boolean uring() {
        return transport() == NbdServer.Transport.IO_URING;
    }

    private String script(String name) throws Exception {
        Path p = dir.resolve(name);
        try (var in = RealClientTests.class.getResourceAsStream("/nbdsh/" + name)) {
            Files.copy(in, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return "exec(open('" + p + "').read())";
    }

    private static String sha256(Path file, long offset, int length) throws Exception {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            while (b.hasRemaining()) {
                ch.read(b, offset + b.position());
            }
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b.array()));
        }
    }

    @Test
    void nbdinfo_overTcp_reportsSizeFlagsAndBlockSizes() throws Exception {
        String out = Proc.ok(T, "nbdinfo", "--json", srv.tcpUri(""));
        assertThat(out).contains("\"export-size\": " + SIZE)
                .contains("\"block_size_minimum\": 4096", "\"block_size_preferred\": 4096", "\"block_size_maximum\": 33554432")
                .contains("\"can_flush\": true", "\"can_fua\": true", "\"can_multi_conn\": true", "\"can_zero\": true")
                .contains("\"can_trim\": " + uring(), "\"is_read_only\": false", "\"can_fast_zero\": " + uring())
                .contains("\"description\": \"test file\"");
    }

    @Test
    void nbdinfo_overUnixSocket_listsEveryExport() throws Exception {
        String out = Proc.ok(T, "nbdinfo", "--list", "--json", srv.unixUri(""));
        assertThat(out).contains("\"export-name\": \"\"", "\"export-name\": \"mem\"", "\"export-name\": \"ro\"")
                .contains("\"description\": \"RAM disk\"");
        assertThat(Proc.ok(T, "nbdinfo", "--size", srv.unixUri("ro")).trim()).isEqualTo(Long.toString(SIZE));
    }

    @Test
    void nbdinfo_unknownExport_failsWithTheServersMessage() throws Exception {
        Proc.Result r = Proc.run(T, "nbdinfo", srv.tcpUri("nope"));
        assertThat(r.exit()).isNotZero();
        assertThat(r.output()).contains("for export: nope");
    }

    private void nbdshFileExport(String uri) throws Exception {
        Proc.ENV.get().put("EXPECT_SIZE", Long.toString(SIZE));
        Proc.ENV.get().put("EXPECT_FALLOCATE", uring() ? "1" : "0");
        try {
            String out = Proc.ok(T, "nbdsh", "-u", uri, "-c", script("file-export.py"));
            String sha = out.lines().filter(l -> l.startsWith("sha256 ")).findFirst().orElseThrow().substring(7);
            // What the client wrote through NBD is in the file.
            assertThat(sha256(srv.file, 4096, 1 << 20)).isEqualTo(sha);
        } finally {
            Proc.ENV.get().clear();
        }
    }

    @Test
    void nbdsh_fileExportOverTcp_readWriteFlushZeroFuaAndErrors() throws Exception {
        nbdshFileExport(srv.tcpUri(""));
    }

    @Test
    void nbdsh_fileExportOverUnixSocket_readWriteFlushZeroFuaAndErrors() throws Exception {
        nbdshFileExport(srv.unixUri(""));
    }

    @Test
    void nbdsh_memExport_trimFastZeroCacheDfAndBlockStatus() throws Exception {
        assertThat(Proc.ok(T, "nbdsh", "--base-allocation", "-u", srv.tcpUri("mem"), "-c", script("mem-export.py")))
                .contains("mem export ok");
    }

    @Test
    void nbdsh_readOnlyExport_refusesWritesWithEperm() throws Exception {
        assertThat(Proc.ok(T, "nbdsh", "-u", srv.unixUri("ro"), "-c", script("ro-export.py"))).contains("ro export ok");
    }

    @Test
    void qemuImg_convertIntoAndOutOfExport_compareEqual() throws Exception {
        Path src = dir.resolve("src.img");
        byte[] data = new byte[64 << 20];
        new Random(11).nextBytes(data);
        Files.write(src, data);
        String uri = srv.unixUri("");
        // Into the export (-n: the target exists), then compare (exit 0 = identical contents over src's size).
        Proc.ok(T, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.toString(), uri);
        Proc.ok(T, "qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(),
                "json:{\"driver\":\"raw\",\"size\":" + data.length + ",\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\""
                        + srv.socket + "\"}}}");
        Path back = dir.resolve("back.img");
        Proc.ok(T, "qemu-img", "convert", "-f", "raw", "-O", "raw", srv.tcpUri(""), back.toString());
        assertThat(Files.size(back)).isEqualTo(SIZE);
        assertThat(sha256(back, 0, data.length)).isEqualTo(sha256(src, 0, data.length));
        Files.delete(src);
        Files.delete(back);
    }

    @Test
    void qemuIo_aioWritesAndReads_verifyPatterns() throws Exception {
        String out = Proc.ok(T, "qemu-io", "-f", "raw", srv.tcpUri(""),
                "-c", "aio_write -P 0xa5 0 1M", "-c", "aio_write -P 0x5a 1M 1M", "-c", "aio_write -P 0x3c 8M 64k",
                "-c", "aio_flush",
                "-c", "aio_read -P 0xa5 0 1M", "-c", "aio_read -P 0x5a 1M 1M", "-c", "aio_read -P 0x3c 8M 64k",
                "-c", "aio_flush",
                "-c", "write -z 8M 4k", "-c", "read -P 0 8M 4k", "-c", "read -P 0x3c 8196k 60k");
        assertThat(out).doesNotContain("Pattern verification failed").doesNotContain("error");
        assertThat(out).contains("read 1048576/1048576 bytes at offset 1048576");
    }

    @Test
    void fio_nbdEngine_verifyCrc32cAtQd32OverFourConnections() throws Exception {
        String out = Proc.ok(Duration.ofMinutes(5), "fio", "--name=verify", "--ioengine=nbd", "--uri=" + srv.tcpUri(""),
                "--rw=randwrite", "--bs=4k", "--iodepth=32", "--numjobs=4", "--size=24m", "--offset_increment=32m",
                "--verify=crc32c", "--verify_fatal=1", "--verify_state_save=0", "--do_verify=1", "--group_reporting=1");
        assertThat(out).contains("err= 0").doesNotContain("verify: bad");
        // 4 jobs, one connection each, all verified
        assertThat(out).contains("jobs=4");
    }
}
