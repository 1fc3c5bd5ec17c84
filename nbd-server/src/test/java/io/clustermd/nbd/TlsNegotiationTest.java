package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.nbd.memory.MemoryBackend;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD_OPT_STARTTLS and the spec's FORCEDTLS mode: the option rules on the real pipeline
 * ({@link EmbeddedServer}), then TLS itself against a running server with a JDK TLS client, and
 * the checks {@link NbdTls#fromPemFiles} makes of its files. Certificates come from openssl.
 */
class TlsNegotiationTest {

    @TempDir
    static Path dir;
    private static TestCertificates certs;
    private static NbdTls tls;
    private static NbdServer server;

    @BeforeAll
    static void start() throws Exception {
        certs = TestCertificates.create(dir.resolve("certs"));
        tls = NbdTls.fromPemFiles(certs.cert("server"), certs.key("server"), certs.cert("ca"));
        server = NbdServer.builder().export(new NbdExport("", null, new MemoryBackend(1 << 20)))
                .listen(new NbdListener.Tcp("127.0.0.1", 0)).tls(tls).ioThreads(1).start();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    // ---- the option rules, on the pipeline ----

    record OptReply(int option, int type, String message) {}

    private static OptReply optReply(EmbeddedServer srv) {
        ByteBuf o = srv.out();
        assertThat(o.readableBytes()).isGreaterThanOrEqualTo(20);
        assertThat(o.readLong()).isEqualTo(NBD_REP_MAGIC);
        int opt = o.readInt();
        int type = o.readInt();
        byte[] d = new byte[o.readInt()];
        o.readBytes(d);
        return new OptReply(opt, type, new String(d, StandardCharsets.UTF_8));
    }

    private static EmbeddedServer embedded() {
        NbdServerConfig c = NbdServerConfig.DEFAULTS;
        EmbeddedServer srv = new EmbeddedServer(c, new InFlightBudget(c.serverMaxInFlight(), c.serverMaxInFlightBytes()),
                tls, new NbdExport("", null, new MemoryBackend(1 << 20)));
        srv.out().skipBytes(18); // greeting
        srv.send(ClientFrames.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
        return srv;
    }

    @Test
    void options_beforeStartTls_refusedWithTlsRequired() {
        EmbeddedServer srv = embedded();
        try {
            int[] options = {NBD_OPT_LIST, NBD_OPT_INFO, NBD_OPT_GO, NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT,
                NBD_OPT_SET_META_CONTEXT, NBD_OPT_EXTENDED_HEADERS, 4242};
            for (int opt : options) {
                byte[] data = opt == NBD_OPT_INFO || opt == NBD_OPT_GO ? ClientFrames.goData("") : new byte[0];
                srv.send(ClientFrames.option(opt, data));
                OptReply r = optReply(srv);
                assertThat(r.option()).isEqualTo(opt);
                assertThat(r.type()).as(optionName(opt)).isEqualTo(NBD_REP_ERR_TLS_REQD);
                assertThat(r.message()).contains("requires TLS", "NBD_OPT_STARTTLS");
            }
            // Still in the handshake: no transmission phase was entered by the refused GO.
            assertThat(srv.ch.pipeline().get(NbdHandshakeHandler.HANDSHAKE)).isNotNull();
            srv.send(ClientFrames.option(NBD_OPT_ABORT, new byte[0]));
            assertThat(optReply(srv).type()).isEqualTo(NBD_REP_ACK);
            assertThat(srv.ch.isActive()).isFalse();
        } finally {
            srv.close();
        }
    }

    @Test
    void exportName_beforeStartTls_closesTheConnection() {
        EmbeddedServer srv = embedded();
        try {
            srv.send(ClientFrames.option(NBD_OPT_EXPORT_NAME, new byte[0]));
            assertThat(srv.out().readableBytes()).isZero();
            assertThat(srv.ch.isActive()).isFalse();
        } finally {
            srv.close();
        }
    }

    @Test
    void startTls_withData_refusedAsInvalid() {
        EmbeddedServer srv = embedded();
        try {
            srv.send(ClientFrames.option(NBD_OPT_STARTTLS, new byte[] {1}));
            assertThat(optReply(srv).type()).isEqualTo(NBD_REP_ERR_INVALID);
            assertThat(srv.ch.pipeline().get(NbdHandshakeHandler.TLS)).isNull();
            assertThat(srv.ch.isActive()).isTrue();
        } finally {
            srv.close();
        }
    }

    @Test
    void startTls_acknowledgedInClear_thenTlsHandlerFirst() {
        EmbeddedServer srv = embedded();
        try {
            srv.send(ClientFrames.option(NBD_OPT_STARTTLS, new byte[0]));
            OptReply r = optReply(srv);
            assertThat(r.option()).isEqualTo(NBD_OPT_STARTTLS);
            assertThat(r.type()).isEqualTo(NBD_REP_ACK);
            assertThat(srv.ch.pipeline().names().get(0)).isEqualTo(NbdHandshakeHandler.TLS);
            assertThat(srv.ch.isActive()).isTrue();
        } finally {
            srv.close();
        }
    }

    @Test
    void clearBytes_afterStartTlsBeforeItsReply_closeTheConnection() {
        EmbeddedServer srv = embedded();
        try {
            // STARTTLS and a LIST in one write: the LIST was sent in clear and must not be answered.
            ByteBuf both = Unpooled.wrappedBuffer(ClientFrames.option(NBD_OPT_STARTTLS, new byte[0]),
                    ClientFrames.option(NBD_OPT_LIST, new byte[0]));
            srv.send(both);
            assertThat(optReply(srv).type()).isEqualTo(NBD_REP_ACK);
            assertThat(srv.out().readableBytes()).isZero();
            assertThat(srv.ch.isActive()).isFalse();
        } finally {
            srv.close();
        }
    }

    @Test
    void startTls_withoutTlsConfigured_refusedAsUnsupported() {
        EmbeddedServer srv = new EmbeddedServer(NbdServerConfig.DEFAULTS, new NbdExport("", null, new MemoryBackend(4096)));
        try {
            srv.out().skipBytes(18);
            srv.send(ClientFrames.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE));
            srv.send(ClientFrames.option(NBD_OPT_STARTTLS, new byte[0]));
            assertThat(optReply(srv).type()).isEqualTo(NBD_REP_ERR_UNSUP);
            srv.send(ClientFrames.option(NBD_OPT_LIST, new byte[0]));
            assertThat(srv.out().readLong()).isEqualTo(NBD_REP_MAGIC); // no TLS_REQD in NOTLS mode
            assertThat(srv.ch.isActive()).isTrue();
        } finally {
            srv.close();
        }
    }

    // ---- TLS on a running server ----

    /** The client side of the handshake over a socket; {@link #startTls} moves it into TLS. */
    private static final class Client implements AutoCloseable {
        private final Socket raw;
        private Socket socket;
        private DataInputStream in;
        private DataOutputStream out;

        Client(int port) throws IOException {
            raw = new Socket(InetAddress.getLoopbackAddress(), port);
            raw.setSoTimeout(10_000);
            use(raw);
            assertThat(in.readLong()).isEqualTo(NBD_MAGIC);
            assertThat(in.readLong()).isEqualTo(NBD_OPTS_MAGIC);
            in.readUnsignedShort();
            out.writeInt(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
        }

        private void use(Socket s) throws IOException {
            socket = s;
            in = new DataInputStream(s.getInputStream());
            out = new DataOutputStream(s.getOutputStream());
        }

        void option(int opt, byte[] data) throws IOException {
            out.writeLong(NBD_OPTS_MAGIC);
            out.writeInt(opt);
            out.writeInt(data.length);
            out.write(data);
            out.flush();
        }

        OptReply reply() throws IOException {
            assertThat(in.readLong()).isEqualTo(NBD_REP_MAGIC);
            int opt = in.readInt();
            int type = in.readInt();
            byte[] d = new byte[in.readInt()];
            in.readFully(d);
            return new OptReply(opt, type, new String(d, StandardCharsets.UTF_8));
        }

        /** Replies up to and including the final one (ACK or an error). */
        OptReply lastReply() throws IOException {
            OptReply r;
            do {
                r = reply();
            } while (r.type() == NBD_REP_INFO || r.type() == NBD_REP_SERVER);
            return r;
        }

        void startTls(SSLContext ctx) throws IOException {
            option(NBD_OPT_STARTTLS, new byte[0]);
            assertThat(reply().type()).isEqualTo(NBD_REP_ACK);
            SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(raw, "localhost", raw.getPort(), true);
            s.setUseClientMode(true);
            s.startHandshake();
            use(s);
        }

        /** A simple-reply request; returns the error, reading {@code readInto} on success. */
        int request(int type, long offset, byte[] payload, byte[] readInto) throws IOException {
            int length = payload != null ? payload.length : readInto != null ? readInto.length : 0;
            out.writeInt(NBD_REQUEST_MAGIC);
            out.writeShort(0);
            out.writeShort(type);
            out.writeLong(7);
            out.writeLong(offset);
            out.writeInt(length);
            if (payload != null) {
                out.write(payload);
            }
            out.flush();
            assertThat(in.readInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
            int error = in.readInt();
            assertThat(in.readLong()).isEqualTo(7);
            if (error == 0 && readInto != null) {
                in.readFully(readInto);
            }
            return error;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    void startTls_thenInfoAndGoInsideTls_servesWritesAndReads() throws Exception {
        try (Client c = new Client(server.tcpPort())) {
            c.option(NBD_OPT_INFO, ClientFrames.goData(""));
            assertThat(c.reply().type()).isEqualTo(NBD_REP_ERR_TLS_REQD);
            c.startTls(certs.clientContext("ca", "client"));
            assertThat(((SSLSocket) c.socket).getSession().getProtocol()).isIn("TLSv1.3", "TLSv1.2");
            c.option(NBD_OPT_STARTTLS, new byte[0]);
            OptReply again = c.reply();
            assertThat(again.type()).isEqualTo(NBD_REP_ERR_INVALID);
            assertThat(again.message()).contains("already");
            c.option(NBD_OPT_LIST, new byte[0]);
            assertThat(c.lastReply().type()).isEqualTo(NBD_REP_ACK);
            c.option(NBD_OPT_INFO, ClientFrames.goData(""));
            assertThat(c.lastReply().type()).isEqualTo(NBD_REP_ACK);
            c.option(NBD_OPT_GO, ClientFrames.goData(""));
            assertThat(c.lastReply().type()).isEqualTo(NBD_REP_ACK);
            byte[] block = new byte[65536];
            Arrays.fill(block, (byte) 0x5a);
            assertThat(c.request(NBD_CMD_WRITE, 8192, block, null)).isZero();
            byte[] back = new byte[65536];
            assertThat(c.request(NBD_CMD_READ, 8192, null, back)).isZero();
            assertThat(back).isEqualTo(block);
        }
    }

    @Test
    void startTls_clientWithoutCertificate_refusedInTlsHandshake() throws Exception {
        SSLContext noCert = certs.clientContext("ca", null);
        try (Client c = new Client(server.tcpPort())) {
            // With TLS 1.3 the client may finish its side first; the refusal then ends the first read.
            assertThatThrownBy(() -> {
                c.startTls(noCert);
                c.option(NBD_OPT_LIST, new byte[0]);
                c.reply();
            }).isInstanceOf(IOException.class);
        }
    }

    @Test
    void startTls_clientCertificateOfAnotherCa_refusedInTlsHandshake() throws Exception {
        SSLContext rogue = certs.clientContext("ca", "rogue");
        try (Client c = new Client(server.tcpPort())) {
            assertThatThrownBy(() -> {
                c.startTls(rogue);
                c.option(NBD_OPT_LIST, new byte[0]);
                c.reply();
            }).isInstanceOf(IOException.class);
        }
    }

    // ---- the files ----

    @Test
    void fromPemFiles_keyOfAnotherCertificate_refusedNamingTheKey() {
        assertThatThrownBy(() -> NbdTls.fromPemFiles(certs.cert("server"), certs.key("client"), null))
                .isInstanceOf(NbdTls.InvalidTlsFileException.class)
                .hasMessageContaining(certs.key("client").toString())
                .hasMessageContaining("does not belong to the certificate")
                .satisfies(e -> assertThat(((NbdTls.InvalidTlsFileException) e).file()).isEqualTo(certs.key("client")));
    }

    @Test
    void fromPemFiles_missingOrSwappedFiles_refusedNamingTheFile() {
        Path missing = dir.resolve("nope.pem");
        assertThatThrownBy(() -> NbdTls.fromPemFiles(missing, certs.key("server"), null))
                .hasMessageContaining(missing + " does not exist: give the server's certificate");
        assertThatThrownBy(() -> NbdTls.fromPemFiles(certs.cert("server"), certs.cert("server"), null))
                .hasMessageContaining("holds a certificate, not a private key");
        assertThatThrownBy(() -> NbdTls.fromPemFiles(certs.key("server"), certs.key("server"), null))
                .hasMessageContaining("holds a private key, not a certificate");
        assertThatThrownBy(() -> NbdTls.fromPemFiles(certs.cert("server"), certs.key("server"), certs.key("ca")))
                .hasMessageContaining(certs.key("ca").toString());
    }

    @Test
    void fromPemFiles_pkcs1RsaKey_accepted() throws Exception {
        Path key = dir.resolve("rsa-key.pem");
        Path cert = dir.resolve("rsa-cert.pem");
        TestCertificates.openssl("genrsa", "-traditional", "-out", key.toString(), "2048");
        TestCertificates.openssl("req", "-x509", "-key", key.toString(), "-out", cert.toString(), "-days", "1",
                "-subj", "/CN=rsa");
        assertThat(Files.readString(key)).startsWith("-----BEGIN RSA PRIVATE KEY-----");
        assertThat(NbdTls.fromPemFiles(cert, key, null).requiresClientCertificates()).isFalse();
    }
}
