package io.clustermd.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code clustermd export-file} as a real process, driven by real NBD clients. */
class ExportFileCommandTest {

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The daemon's main class in a child JVM with this module's classpath. */
    private static ProcessBuilder clustermd(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "io.clustermd.daemon.ClusterMd"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("out.log").toFile());
    }

    private static String run(String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PATH", "/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", ""));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("%s: %s", String.join(" ", cmd), out).isZero();
        return out;
    }

    @Test
    void exportFile_servesOverUnixAndTcp_andStopsCleanlyOnSigterm(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        Path sock = dir.resolve("disk.nbd");
        int port = freePort();
        Process p = clustermd(dir, "export-file", "-l", "unix:" + sock, "--nbd", "tcp:127.0.0.1:" + port,
                "--description", "test image", img.toString()).start();
        try {
            String uri = "nbd+unix:///?socket=" + sock;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(sock) && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(100);
            }
            assertThat(Files.exists(sock)).as("socket appears; log: %s", Files.readString(dir.resolve("out.log"))).isTrue();
            String info = run("nbdinfo", "--json", uri);
            assertThat(info).contains("\"export-size\": " + (64L << 20), "\"can_multi_conn\": true", "\"description\": \"test image\"");
            run("qemu-io", "-f", "raw", uri, "-c", "write -P 0x5a 1M 64k");
            String read = run("qemu-io", "-f", "raw", "nbd://127.0.0.1:" + port, "-c", "read -P 0x5a 1M 64k");
            assertThat(read).doesNotContain("Pattern verification failed");
        } finally {
            p.destroy(); // SIGTERM
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Files.exists(sock)).as("the socket file is removed on stop").isFalse();
        byte[] data = Files.readAllBytes(img);
        assertThat(data[(1 << 20) + 65535]).isEqualTo((byte) 0x5a);
        assertThat(Files.readString(dir.resolve("out.log"))).contains("stopping: finishing in-flight requests");
    }

    @Test
    void exportFile_missingFile_failsWithHowToCreateIt(@TempDir Path dir) throws Exception {
        Process p = clustermd(dir, "export-file", "-l", "unix:" + dir.resolve("s"), dir.resolve("nope.img").toString()).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("out.log"))).contains("nope.img").contains("truncate -s");
    }

    @Test
    void exportFile_badListenAddress_isAUsageError(@TempDir Path dir) throws Exception {
        Path img = Files.write(dir.resolve("x.img"), new byte[4096]);
        Process p = clustermd(dir, "export-file", "-l", "localhost:10809", img.toString()).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("out.log"))).contains("expected tcp:HOST:PORT or unix:PATH");
    }

    /** A self-signed server certificate for localhost and its key, and a second key that is not its. */
    private static Path selfSigned(Path dir) throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", certs.resolve("server-key.pem").toString(), "-out", certs.resolve("server-cert.pem").toString(),
                "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1");
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", certs.resolve("other-key.pem").toString());
        // libnbd's credentials directory: the certificate it trusts is the server's own.
        Path client = Files.createDirectories(certs.resolve("client"));
        Files.copy(certs.resolve("server-cert.pem"), client.resolve("ca-cert.pem"));
        return certs;
    }

    @Test
    void exportFile_withTls_servesNbdsClients_andRefusesPlainOnes(@TempDir Path dir) throws Exception {
        Path certs = selfSigned(dir);
        Path img = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Path sock = dir.resolve("disk.nbd");
        Process p = clustermd(dir, "export-file", "-l", "unix:" + sock, "--tls-cert", certs.resolve("server-cert.pem").toString(),
                "--tls-key", certs.resolve("server-key.pem").toString(), img.toString()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(sock) && System.nanoTime() < deadline && p.isAlive()) {
                Thread.sleep(100);
            }
            String tls = "nbds+unix:///?socket=" + sock + "&tls-certificates=" + certs.resolve("client");
            assertThat(run("nbdinfo", tls)).contains("newstyle-fixed with TLS", "export-size: " + (16L << 20));
            Process plain = new ProcessBuilder("nbdinfo", "nbd+unix:///?socket=" + sock).redirectErrorStream(true).start();
            String out = new String(plain.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(plain.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(plain.exitValue()).as(out).isNotZero();
            assertThat(out).doesNotContain("export-size");
        } finally {
            p.destroy();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Files.readString(dir.resolve("out.log"))).contains("TLS required, no client certificates");
    }

    @Test
    void exportFile_tlsKeyOfAnotherCertificate_refusedAtStartNamingTheKey(@TempDir Path dir) throws Exception {
        Path certs = selfSigned(dir);
        Path img = Files.write(dir.resolve("x.img"), new byte[4096]);
        Process p = clustermd(dir, "export-file", "-l", "unix:" + dir.resolve("s"), "--tls-cert",
                certs.resolve("server-cert.pem").toString(), "--tls-key", certs.resolve("other-key.pem").toString(),
                img.toString()).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("out.log"))).contains("clustermd export-file: TLS: private key file "
                + certs.resolve("other-key.pem") + " does not belong to the certificate in " + certs.resolve("server-cert.pem"));
        assertThat(Files.exists(dir.resolve("s"))).isFalse();
    }

    @Test
    void exportFile_tlsKeyWithoutCertificate_isAUsageError(@TempDir Path dir) throws Exception {
        Path img = Files.write(dir.resolve("x.img"), new byte[4096]);
        Process p = clustermd(dir, "export-file", "-l", "unix:" + dir.resolve("s"), "--tls-key", img.toString(),
                img.toString()).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("out.log"))).contains("TLS needs both --tls-cert FILE and --tls-key FILE");
    }

    @Test
    void exportFile_listenAddressReachableFromNetwork_warnsAndRecommendsTls(@TempDir Path dir) throws Exception {
        // A name that does not resolve counts as reachable; the bind then fails, so nothing listens.
        Path img = Files.write(dir.resolve("x.img"), new byte[4096]);
        Process p = clustermd(dir, "export-file", "-l", "tcp:no-such-host.invalid:10809", img.toString()).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("out.log"))).contains(
                "NBD on tcp:no-such-host.invalid:10809 is reachable from the network, without TLS",
                "Use TLS with client certificates (--tls-cert, --tls-key, --tls-ca)");
    }
}
