package io.clustermd.test.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clustermd run --tls-cert --tls-key --tls-ca} with libnbd's clients (nbdinfo, nbdcopy) over
 * {@code nbds+unix://} and {@code nbds://}, certificates made by openssl. libnbd reads a client's
 * credentials from a directory: {@code ca-cert.pem} (what the server's certificate must be signed
 * by), {@code client-cert.pem} and {@code client-key.pem}.
 */
class TlsDaemonTest {

    @TempDir
    static Path dir;
    private static Path certs;
    private static List<Path> members;
    private static Daemon daemon;
    private static int port;

    @BeforeAll
    static void startDaemon() throws Exception {
        certs = Files.createDirectories(dir.resolve("certs"));
        ca("ca", "/CN=clustermd test CA");
        // Another CA under the same name: a client certificate it signed names the right issuer,
        // so the client presents it and only the signature check can refuse it.
        ca("impostor-ca", "/CN=clustermd test CA");
        leaf("server", "ca", "serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
        leaf("client", "ca", "clientAuth", "");
        leaf("rogue", "impostor-ca", "clientAuth", "");
        clientDir("good", "client");
        clientDir("impostor", "rogue");
        clientDir("nocert", null);

        members = MemberFiles.sparse(dir, "tls-", 2, 64L << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--assume-clean", "--name=tls"));
        members.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err)))
                .as(err.toString()).isZero();
        port = freePort();
        Path runDir = dir.resolve("run");
        daemon = Daemon.start(dir, "tls", members, "--nbd", "unix:" + runDir.resolve("tls.nbd"),
                "--nbd", "tcp:127.0.0.1:" + port, "--tls-cert", certs.resolve("server-cert.pem").toString(),
                "--tls-key", certs.resolve("server-key.pem").toString(), "--tls-ca", certs.resolve("ca-cert.pem").toString());
    }

    @AfterAll
    static void stopDaemon() throws Exception {
        if (daemon != null) {
            assertThat(daemon.terminate()).isZero();
        }
    }

    private static String unixUri(String clientDir) {
        return "nbds+unix:///?socket=" + daemon.runDir.resolve("tls.nbd") + "&tls-certificates=" + certs.resolve(clientDir);
    }

    @Test
    void run_withTls_nbdcopyWritesOverUnixSocketAndReadsBackOverTcp() throws Exception {
        Path src = dir.resolve("src.bin");
        byte[] data = new byte[4 << 20];
        new Random(42).nextBytes(data);
        Files.write(src, data);
        String info = Processes.check(List.of("nbdinfo", unixUri("good"))).stdout();
        assertThat(info).contains("newstyle-fixed with TLS", "export-size:");
        Processes.check(List.of("nbdcopy", src.toString(), unixUri("good")));
        Path back = dir.resolve("back.bin");
        String tcp = "nbds://127.0.0.1:" + port + "/?tls-certificates=" + certs.resolve("good");
        Processes.check(List.of("nbdcopy", tcp, back.toString()));
        assertThat(java.util.Arrays.copyOf(Files.readAllBytes(back), data.length)).isEqualTo(data);
        assertThat(Daemon.dataArea(members.get(0), data.length)).isEqualTo(data);
        assertThat(Daemon.dataArea(members.get(1), data.length)).isEqualTo(data);
    }

    @Test
    void run_withTls_plainClientRefusedWithTlsRequired() {
        Processes.Result r = Processes.run(List.of("nbdinfo", daemon.nbdUri()), null, Map.of("LIBNBD_DEBUG", "1"));
        assertThat(r.exitCode()).isNotZero();
        // bookworm's libnbd reports the refusal as "not supported"; the server's reason is in its debug output.
        assertThat(r.stderr()).contains("server error message: this server requires TLS: send NBD_OPT_STARTTLS first");
        assertThat(r.stdout()).doesNotContain("export-size");
    }

    @Test
    void run_withTlsCa_clientCertificateOfAnotherCaRefusedInTlsHandshake() {
        Processes.Result r = Processes.run(List.of("nbdinfo", unixUri("impostor")));
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.stderr()).contains("TLS");
        assertThat(daemon.logText()).contains("TLS failed", "PKIX path");
    }

    @Test
    void run_withTlsCa_clientWithoutCertificateRefusedInTlsHandshake() {
        Processes.Result r = Processes.run(List.of("nbdinfo", unixUri("nocert")));
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.stderr()).contains("TLS");
        assertThat(daemon.logText()).contains("TLS failed", "Empty client certificate chain");
    }

    @Test
    void run_tlsKeyOfAnotherCertificate_refusedAtStartNamingTheKey() {
        Path wrongKey = certs.resolve("client-key.pem");
        Processes.Result r = Processes.run(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "run",
                "--name", "tls2", "--run-dir", dir.resolve("run2").toString(),
                "--tls-cert", certs.resolve("server-cert.pem").toString(), "--tls-key", wrongKey.toString(),
                members.get(0).toString(), members.get(1).toString()));
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.stderr()).contains("clustermd: TLS: private key file " + wrongKey
                + " does not belong to the certificate in " + certs.resolve("server-cert.pem"), "give the key");
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void clientDir(String name, String client) throws IOException {
        Path d = Files.createDirectories(certs.resolve(name));
        Files.copy(certs.resolve("ca-cert.pem"), d.resolve("ca-cert.pem"));
        if (client != null) {
            Files.copy(certs.resolve(client + "-cert.pem"), d.resolve("client-cert.pem"));
            Files.copy(certs.resolve(client + "-key.pem"), d.resolve("client-key.pem"));
        }
    }

    private static void ca(String name, String subject) {
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", certs.resolve(name + "-key.pem").toString(), "-out", certs.resolve(name + "-cert.pem").toString(),
                "-days", "2", "-subj", subject,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    private static void leaf(String name, String ca, String usage, String extra) throws IOException {
        Path ext = Files.writeString(certs.resolve(name + ".ext"), "basicConstraints=CA:FALSE\n"
                + "keyUsage=critical,digitalSignature\nextendedKeyUsage=" + usage + "\n" + extra);
        String csr = certs.resolve(name + ".csr").toString();
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", certs.resolve(name + "-key.pem").toString(), "-out", csr, "-subj", "/CN=" + name);
        openssl("x509", "-req", "-in", csr, "-CA", certs.resolve(ca + "-cert.pem").toString(),
                "-CAkey", certs.resolve(ca + "-key.pem").toString(), "-CAcreateserial", "-days", "2",
                "-extfile", ext.toString(), "-out", certs.resolve(name + "-cert.pem").toString());
    }

    private static void openssl(String... args) {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Processes.check(cmd);
    }
}
