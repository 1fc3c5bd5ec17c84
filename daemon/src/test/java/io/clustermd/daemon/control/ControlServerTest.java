package io.clustermd.daemon.control;

import io.clustermd.control.ArrayControl;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.ControlCodec;
import io.clustermd.control.ControlException;
import io.clustermd.control.ControlResponse;
import io.clustermd.control.InMemoryArrayControl;
import io.clustermd.control.MemberState;
import io.clustermd.control.SyncAction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The control socket's server over a real unix socket: lines in, lines out, files and errors. */
@Timeout(30)
class ControlServerTest {

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private ControlServer serve(Path socket, ArrayControl array) throws IOException {
        ControlServer s = ControlServer.start(socket, array);
        open.add(s);
        return s;
    }

    /** A raw line client: what any JSON-lines tool (socat, nc -U) would do. */
    final class Line implements AutoCloseable {
        final SocketChannel ch;
        final BufferedReader in;
        final OutputStream out;

        Line(Path socket) throws IOException {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            out = Channels.newOutputStream(ch);
            open.add(this);
        }

        String ask(String request) throws IOException {
            send(request + "\n");
            return in.readLine();
        }

        void send(String raw) throws IOException {
            out.write(raw.getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        ControlResponse askDecoded(String request) throws Exception {
            return ControlCodec.decodeResponse(ask(request));
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    private static InMemoryArrayControl twin() {
        return InMemoryArrayControl.raid1("md0", 64512, "/srv/a.img", "/srv/b.img");
    }

    @Test
    void status_andEveryOp_overOneConnection() throws Exception {
        InMemoryArrayControl array = twin();
        Path sock = serve(dir.resolve("md0.ctl"), array).socket();
        Line c = new Line(sock);

        ArrayStatus s = c.askDecoded("{\"op\":\"status\"}").status();
        assertThat(s.name()).isEqualTo("md0");
        assertThat(s.activeDevices()).isEqualTo(2);

        ControlResponse failed = c.askDecoded("{\"op\":\"fail\",\"member\":\"/srv/b.img\"}");
        assertThat(failed.ok()).isTrue();
        assertThat(failed.status().members().get(1).state()).isEqualTo(MemberState.FAULTY);
        assertThat(c.askDecoded("{\"op\":\"remove\",\"member\":\"/srv/b.img\"}").status().members()).hasSize(1);
        assertThat(c.askDecoded("{\"op\":\"re-add\",\"member\":\"/srv/b.img\"}").status().sync().action())
                .isEqualTo(SyncAction.RECOVER);
        array.progress(Long.MAX_VALUE / 4, 100);
        assertThat(c.askDecoded("{\"op\":\"add\",\"member\":\"/srv/c.img\"}").status().spareDevices()).isEqualTo(1);
        assertThat(c.askDecoded("{\"op\":\"check\"}").status().sync().action()).isEqualTo(SyncAction.CHECK);
        assertThat(c.askDecoded("{\"op\":\"repair\"}").error()).contains("check is running");
        array.progress(Long.MAX_VALUE / 4, 100);
        assertThat(c.askDecoded("{\"op\":\"repair\"}").status().sync().action()).isEqualTo(SyncAction.REPAIR);
        assertThat(c.ask("{\"op\":\"stop\"}")).isEqualTo("{\"ok\":true}");
        assertThat(array.stopped()).isTrue();
    }

    @Test
    void refusals_comeBackAsOneLineErrors_andTheConnectionStaysUsable() throws Exception {
        Path sock = serve(dir.resolve("md0.ctl"), twin()).socket();
        Line c = new Line(sock);
        assertThat(c.ask("{\"op\":\"remove\",\"member\":\"/srv/a.img\"}")).isEqualTo(
                "{\"ok\":false,\"error\":\"cannot remove /srv/a.img: it is an active member of md0; fail it first with"
                        + " 'clusterctl fail /srv/a.img'\"}");
        assertThat(c.askDecoded("{\"op\":\"fail\",\"member\":\"/srv/zz.img\"}").error())
                .isEqualTo("/srv/zz.img is not a member of md0 (members: /srv/a.img, /srv/b.img)");
        assertThat(c.askDecoded("{\"op\":\"status\"}").ok()).isTrue();
    }

    @Test
    void malformedLines_getErrors_andTheNextRequestIsAnswered() throws Exception {
        Path sock = serve(dir.resolve("md0.ctl"), twin()).socket();
        Line c = new Line(sock);
        assertThat(c.askDecoded("this is not json").error()).startsWith("malformed JSON in request: ");
        assertThat(c.askDecoded("{\"op\":\"format\"}").error()).startsWith("unknown op \"format\"");
        assertThat(c.askDecoded("{\"op\":\"fail\"}").error()).isEqualTo("op \"fail\" needs \"member\": the member's path");
        assertThat(c.askDecoded("[]").error()).isEqualTo("request is not a JSON object");
        assertThat(c.askDecoded("").error()).startsWith("empty request line");
        assertThat(c.askDecoded("{\"op\":\"status\"}\r").ok()).isTrue(); // CRLF clients (socat CRLF) work too
        assertThat(c.askDecoded("{\"op\":\"status\"}").status().name()).isEqualTo("md0");
    }

    @Test
    void overLongLine_isRefusedWithoutBufferingIt_andTheConnectionGoesOn() throws Exception {
        Path sock = serve(dir.resolve("md0.ctl"), twin()).socket();
        Line c = new Line(sock);
        String huge = "{\"op\":\"fail\",\"member\":\"" + "x".repeat(5 * ControlCodec.MAX_REQUEST_LINE) + "\"}";
        assertThat(c.askDecoded(huge).error()).isEqualTo(
                "request line longer than " + ControlCodec.MAX_REQUEST_LINE + " bytes; send one JSON object per line");
        assertThat(c.askDecoded("{\"op\":\"status\"}").ok()).isTrue();
    }

    @Test
    void requestsSplitAcrossWrites_andSeveralInOneWrite_areEachAnswered() throws Exception {
        Path sock = serve(dir.resolve("md0.ctl"), twin()).socket();
        Line c = new Line(sock);
        c.send("{\"op\":\"sta");
        Thread.sleep(50);
        c.send("tus\"}\n{\"op\":\"check\"}\n{\"op\":\"check\"}\n");
        assertThat(ControlCodec.decodeResponse(c.in.readLine()).status()).isNotNull();
        assertThat(ControlCodec.decodeResponse(c.in.readLine()).status().sync().action()).isEqualTo(SyncAction.CHECK);
        assertThat(ControlCodec.decodeResponse(c.in.readLine()).error()).contains("check is running");
    }

    @Test
    void internalErrorsOfTheArray_areReported_notFatal() throws Exception {
        ArrayControl broken = new Delegating(twin()) {
            @Override
            public void check() {
                throw new IllegalStateException("sync thread is gone");
            }
        };
        Path sock = serve(dir.resolve("md0.ctl"), broken).socket();
        Line c = new Line(sock);
        assertThat(c.askDecoded("{\"op\":\"check\"}").error()).isEqualTo("internal error in the daemon while handling"
                + " check: java.lang.IllegalStateException: sync thread is gone; see the daemon's log");
        assertThat(c.askDecoded("{\"op\":\"status\"}").ok()).isTrue();
    }

    @Test
    void socketFile_isOwnerOnly_andRemovedOnClose() throws Exception {
        Path sock = dir.resolve("run").resolve("md0.ctl");
        ControlServer s = ControlServer.start(sock, twin());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock))).isEqualTo("rw-------");
        try (Stream<Path> files = Files.list(sock.getParent())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("md0.ctl");
        }
        s.close();
        assertThat(sock).doesNotExist();
        s.close(); // twice is harmless
    }

    @Test
    void staleSocket_isReplaced() throws Exception {
        Path sock = dir.resolve("md0.ctl");
        ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        dead.bind(UnixDomainSocketAddress.of(sock));
        dead.close(); // the file remains, as after kill -9
        assertThat(sock).exists();
        serve(sock, twin());
        assertThat(new Line(sock).askDecoded("{\"op\":\"status\"}").ok()).isTrue();
    }

    @Test
    void liveDaemon_isNotDisplaced() throws Exception {
        Path sock = dir.resolve("md0.ctl");
        serve(sock, twin());
        assertThatThrownBy(() -> ControlServer.start(sock, twin()))
                .isInstanceOf(ControlSocketInUseException.class)
                .hasMessage("another clustermd daemon is running for array md0 (it answers on " + sock
                        + "); stop it first with 'clusterctl stop --control " + sock + "'");
        assertThat(new Line(sock).askDecoded("{\"op\":\"status\"}").ok()).isTrue();
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.count()).isEqualTo(1); // no temporary socket left behind by the loser
        }
    }

    @Test
    void twoDaemonsStartingAtOnce_theSecondCannotTakeTheName() throws Exception {
        // both passed the stale check before either had published its socket: the loser must not win
        Path sock = dir.resolve("md0.ctl");
        serve(sock, twin());
        Path temp = dir.resolve(".md0.ctl.other.tmp");
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(temp));
            assertThatThrownBy(() -> ControlServer.publish(temp, sock)).isInstanceOf(ControlSocketInUseException.class);
        }
        assertThat(new Line(sock).askDecoded("{\"op\":\"status\"}").ok()).isTrue();
    }

    @Test
    void aRegularFileInTheWay_isRefused_andKept() throws Exception {
        Path sock = dir.resolve("md0.ctl");
        Files.writeString(sock, "not mine");
        assertThatThrownBy(() -> ControlServer.start(sock, twin()))
                .hasMessage(sock + " exists and is not a socket; remove it or choose another path with --control");
        assertThat(Files.readString(sock)).isEqualTo("not mine");
    }

    @Test
    void close_keepsASocketThatAnotherDaemonPutInItsPlace() throws Exception {
        Path sock = dir.resolve("md0.ctl");
        ControlServer first = ControlServer.start(sock, twin());
        Files.delete(sock); // e.g. an operator removed it, and a new daemon started
        ControlServer second = serve(sock, twin());
        first.close();
        assertThat(sock).exists();
        assertThat(new Line(sock).askDecoded("{\"op\":\"status\"}").ok()).isTrue();
        assertThat(second.socket()).isEqualTo(sock);
    }

    @Test
    void tooLongPath_isExplained() {
        Path sock = dir.resolve("x".repeat(120) + ".ctl");
        assertThatThrownBy(() -> ControlServer.start(sock, twin()))
                .isInstanceOf(IOException.class).hasMessageContaining("cannot listen on control socket " + sock);
    }

    @Test
    void stop_isAnsweredBeforeTheDaemonsExitPathRuns() throws Exception {
        CountDownLatch exited = new CountDownLatch(1);
        AtomicReference<ControlServer> server = new AtomicReference<>();
        Path sock = dir.resolve("md0.ctl");
        // the exit path closes the server, as the daemon's shutdown does
        server.set(ControlServer.start(sock, twin(), () -> {
            server.get().close();
            exited.countDown();
        }));
        Line c = new Line(sock);
        assertThat(c.ask("{\"op\":\"stop\"}")).isEqualTo("{\"ok\":true}");
        assertThat(exited.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(sock).doesNotExist();
        assertThat(c.in.readLine()).isNull();
    }

    @Test
    void stopThatShutsTheServerDownFromInside_stillGetsItsReply() throws Exception {
        AtomicReference<ControlServer> server = new AtomicReference<>();
        Path sock = dir.resolve("md0.ctl");
        // the daemon's ArrayControl.stop() triggers shutdown, which closes the server before the reply is written
        ArrayControl selfClosing = new Delegating(twin()) {
            @Override
            public void stop() {
                Thread t = Thread.ofPlatform().start(() -> server.get().close());
                try {
                    t.join(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        server.set(ControlServer.start(sock, selfClosing));
        assertThat(new Line(sock).ask("{\"op\":\"stop\"}")).isEqualTo("{\"ok\":true}");
    }

    @Test
    void concurrentClients_eachGetTheirOwnAnswers() throws Exception {
        InMemoryArrayControl array = InMemoryArrayControl.raid1WithSpares("md0", 64512, 2, "/srv/a.img", "/srv/b.img");
        Path sock = serve(dir.resolve("md0.ctl"), array).socket();
        int clients = 16;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<Integer>> results = new ArrayList<>();
            CountDownLatch go = new CountDownLatch(1);
            for (int i = 0; i < clients; i++) {
                int id = i;
                results.add(pool.submit(() -> {
                    Line c = new Line(sock);
                    go.await();
                    int okAdds = 0;
                    for (int r = 0; r < 12; r++) {
                        ControlResponse st = c.askDecoded("{\"op\":\"status\"}");
                        assertThat(st.status().name()).isEqualTo("md0");
                        String member = "/srv/spare-" + id + "-" + r + ".img";
                        ControlResponse added = c.askDecoded("{\"op\":\"add\",\"member\":\"" + member + "\"}");
                        assertThat(added.ok()).as(added.error()).isTrue();
                        assertThat(added.status().members()).anyMatch(m -> m.path().equals(member));
                        okAdds++;
                    }
                    return okAdds;
                }));
            }
            go.countDown();
            int total = 0;
            for (Future<Integer> f : results) {
                total += f.get(20, TimeUnit.SECONDS);
            }
            assertThat(total).isEqualTo(clients * 12);
            assertThat(array.status().members()).hasSize(2 + clients * 12);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void connectionsBeyondTheLimit_areToldWhy() throws Exception {
        Path sock = serve(dir.resolve("md0.ctl"), twin()).socket();
        List<Line> held = new ArrayList<>();
        for (int i = 0; i < ControlServer.MAX_CONNECTIONS; i++) {
            Line l = new Line(sock);
            assertThat(l.askDecoded("{\"op\":\"status\"}").ok()).isTrue(); // make sure it is being served
            held.add(l);
        }
        Line extra = new Line(sock);
        assertThat(ControlCodec.decodeResponse(extra.in.readLine()).error()).startsWith("too many control connections");
        held.get(0).close();
        // the freed place is given back when the server notices the hang-up: retry until then
        ControlResponse r = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try {
                r = new Line(sock).askDecoded("{\"op\":\"status\"}");
                if (r.ok()) {
                    break;
                }
            } catch (IOException refusedAndClosed) {
                // still full: the server wrote its refusal and hung up before our request went out
            }
            Thread.sleep(20);
        }
        assertThat(r).isNotNull();
        assertThat(r.ok()).isTrue();
    }

    /** Forwards to another ArrayControl; tests override single methods to inject behaviour. */
    static class Delegating implements ArrayControl {
        final ArrayControl d;

        Delegating(ArrayControl d) {
            this.d = d;
        }

        @Override
        public ArrayStatus status() {
            return d.status();
        }

        @Override
        public void fail(String member) throws ControlException {
            d.fail(member);
        }

        @Override
        public void remove(String member) throws ControlException {
            d.remove(member);
        }

        @Override
        public void add(String member) throws ControlException {
            d.add(member);
        }

        @Override
        public void reAdd(String member) throws ControlException {
            d.reAdd(member);
        }

        @Override
        public void growRaidDevices(int n) throws ControlException {
            d.growRaidDevices(n);
        }

        @Override
        public void growSize(long bytes, boolean force) throws ControlException {
            d.growSize(bytes, force);
        }

        @Override
        public void check() throws ControlException {
            d.check();
        }

        @Override
        public void repair() throws ControlException {
            d.repair();
        }

        @Override
        public void stop() throws ControlException {
            d.stop();
        }
    }
}
