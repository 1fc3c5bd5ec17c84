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
        Process p = clustermd(dir, "export-file", "-l", "unix:" + sock, "-l", "tcp:127.0.0.1:" + port,
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
}
