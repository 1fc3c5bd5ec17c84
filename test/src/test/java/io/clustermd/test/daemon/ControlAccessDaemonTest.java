package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Who may manage a running array, and what hostile control clients can do to it: the control
 * socket is root's alone (another user's connect is refused), and malformed, huge,
 * unknown or stalled requests on the control socket leave the daemon answering everyone else and
 * serving NBD.
 */
class ControlAccessDaemonTest {

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private Daemon start(String name) throws Exception {
        List<Path> members = MemberFiles.sparse(dir, name + "-", 2, 64L << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--assume-clean", "--name=" + name));
        members.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err)))
                .as(err.toString()).isZero();
        Daemon d = Daemon.start(dir, name, members);
        open.add(d);
        return d;
    }

    @Test
    void controlSocket_isRootsAlone_andAnotherUserCannotConnect() throws Exception {
        Daemon d = start("acl");
        Path ctl = d.runDir.resolve("acl.ctl");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(ctl))).isEqualTo("rw-------");
        // the test directory must be reachable for the other user; only the socket itself refuses it
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(d.runDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        String connect = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\n"
                + "    s.sendall(b'{\"op\":\"stop\"}\\n'); print(s.recv(200))\nexcept PermissionError as e:\n"
                + "    print('refused:', e); sys.exit(3)\n";
        Processes.Result r = Processes.run(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "/usr/bin/python3", "-c", connect, ctl.toString()));
        assertThat(r.exitCode()).as(r.stdout() + r.stderr()).isEqualTo(3);
        assertThat(r.stdout()).contains("refused: [Errno 13] Permission denied");
        assertThat(d.ctlHere("status").exitCode()).as("the daemon still runs").isZero();
    }

    @Test
    void hostileControlClients_doNotStopTheDaemonAnsweringOthersOrServing() throws Exception {
        Daemon d = start("fuzz");
        UnixDomainSocketAddress ctl = UnixDomainSocketAddress.of(d.runDir.resolve("fuzz.ctl"));
        // 1. a client that sends half a request and stalls
        SocketChannel stalled = SocketChannel.open(StandardProtocolFamily.UNIX);
        stalled.connect(ctl);
        stalled.write(ByteBuffer.wrap("{\"op\":\"sta".getBytes(StandardCharsets.UTF_8)));
        open.add(stalled);
        // 2. 4 MiB without a newline, 3. malformed JSON, 4. an unknown op, 5. binary noise
        List<String> answers = new ArrayList<>();
        for (byte[] request : List.of("x".repeat(4 << 20).getBytes(StandardCharsets.UTF_8),
                "{\"op\": [1,2\n".getBytes(StandardCharsets.UTF_8),
                "{\"op\":\"format-everything\"}\n".getBytes(StandardCharsets.UTF_8),
                new byte[] {0, (byte) 0xff, (byte) 0xfe, 10})) {
            try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                c.connect(ctl);
                OutputStream out = Channels.newOutputStream(c);
                InputStream in = Channels.newInputStream(c);
                try {
                    out.write(request);
                    out.write('\n');
                    out.flush();
                } catch (java.io.IOException closedOnUs) {
                    // the daemon may close a connection that sent too much: fine, as long as it answers others
                }
                StringBuilder line = new StringBuilder();
                for (int b; (b = in.read()) >= 0 && b != '\n'; ) {
                    line.append((char) b);
                }
                answers.add(line.toString());
            }
        }
        assertThat(answers).allSatisfy(a -> assertThat(a).satisfiesAnyOf(
                x -> assertThat(x).contains("\"ok\":false").contains("\"error\""),
                x -> assertThat(x).isEmpty()));
        assertThat(answers.get(2)).contains("format-everything");
        // the stalled client holds one connection; everybody else is answered, NBD serves
        long t0 = System.nanoTime();
        assertThat(d.ctl("status").exitCode()).isZero();
        assertThat((System.nanoTime() - t0) / 1e9).as("status answered while a client stalls").isLessThan(15);
        assertThat(Processes.run(List.of("nbdinfo", "--size", d.nbdUri())).exitCode()).isZero();
        assertThat(d.logText()).doesNotContain("Exception");
    }
}
