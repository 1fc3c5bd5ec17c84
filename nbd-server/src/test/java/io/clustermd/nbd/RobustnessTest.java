package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.clustermd.nbd.file.AlignedBufferPool;
import io.clustermd.nbd.file.FileBackend;
import io.clustermd.nbd.memory.MemoryBackend;
import io.netty.buffer.ByteBuf;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and careless clients over real sockets: hang-ups in the middle of a frame or with requests
 * in flight, frames trickled a byte at a time, lost framing, silent clients, 1000 idle connections.
 * After each, the server still serves, and no buffer or thread is left behind.
 */
class RobustnessTest {
    private static final int SIZE = 16 << 20;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @BeforeAll
    static void watchLeaks() {
        LeakWatcher.install();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
        LeakWatcher.assertNoLeaks();
    }

    private NbdServer serve(BlockBackend b, NbdServerConfig cfg) throws Exception {
        NbdServer s = NbdServer.builder().export(new NbdExport("", null, b)).config(cfg).ioThreads(2)
                .listen(new NbdListener.Tcp("127.0.0.1", 0)).listen(new NbdListener.Unix(dir.resolve("s.sock"))).start();
        cleanup.add(s);
        return s;
    }

    private FileBackend file() throws Exception {
        Path f = dir.resolve("disk.img");
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(SIZE);
        }
        FileBackend b = FileBackend.open(f, FileBackend.Options.DEFAULTS.withIoThreads(4));
        cleanup.add(b);
        return b;
    }

    /** A full write/read round trip on a new connection. */
    private static void assertServes(NbdServer s) throws Exception {
        try (RawClient c = RawClient.tcp(s.tcpPort()).go("", false)) {
            byte[] d = new byte[4096];
            new Random(1).nextBytes(d);
            c.request(0, NBD_CMD_WRITE, 1, 8192, d.length, d);
            c.flush();
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(1, 0));
            c.request(0, NBD_CMD_READ, 2, 8192, d.length, null);
            c.flush();
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(2, 0));
            assertThat(c.readData(d.length)).isEqualTo(d);
            c.request(0, NBD_CMD_DISC, 3, 0, 0, null);
            c.flush();
            assertThat(c.closedByServer(WAIT.toMillis())).isTrue();
        }
    }

    private static Set<String> serverThreads() {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("nbd-")).collect(Collectors.toSet());
    }

    @Test
    void hangUpInTheMiddleOfWritePayload_serverKeepsServingAndFreesTheBuffer() throws Exception {
        NbdServer s = serve(file(), NbdServerConfig.DEFAULTS);
        for (int cut : new int[] {1, 13, 27, 28, 29, 4000, 28 + 65535}) {
            RawClient c = RawClient.tcp(s.tcpPort()).go("", false);
            c.request(0, NBD_CMD_WRITE, 1, 0, 65536, new byte[65536]);
            c.out.flush();
            c.close();
            // the whole frame was buffered in the client; cut it by sending only a prefix instead:
            RawClient d = RawClient.unix(dir.resolve("s.sock")).go("", false);
            java.io.ByteArrayOutputStream bo = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream o = new java.io.DataOutputStream(bo);
            o.writeInt(NBD_REQUEST_MAGIC);
            o.writeShort(0);
            o.writeShort(NBD_CMD_WRITE);
            o.writeLong(7);
            o.writeLong(0);
            o.writeInt(65536);
            o.write(new byte[65536]);
            d.out.write(bo.toByteArray(), 0, cut);
            d.out.flush();
            d.close();
        }
        await().atMost(WAIT).until(() -> s.connectionCount() == 0);
        assertServes(s);
    }

    @Test
    void hangUpWithRequestsInFlight_completionsAreDroppedAndBuffersFreed() throws Exception {
        ScheduledExecutorService slow = Executors.newSingleThreadScheduledExecutor();
        cleanup.add(slow::shutdownNow);
        // A backend that completes 200 ms later on its own thread.
        MemoryBackend mem = new MemoryBackend(SIZE, r -> slow.schedule(r, 200, TimeUnit.MILLISECONDS), false);
        NbdServer s = serve(mem, NbdServerConfig.DEFAULTS);
        RawClient c = RawClient.tcp(s.tcpPort()).go("", true);
        for (int i = 0; i < 64; i++) {
            c.request(0, i % 2 == 0 ? NBD_CMD_READ : NBD_CMD_WRITE, i, i * 4096L, 4096, i % 2 == 0 ? null : new byte[4096]);
        }
        c.flush();
        c.close();
        await().atMost(WAIT).until(() -> s.connectionCount() == 0);
        Thread.sleep(500); // let the late completions run against the closed channel
        assertServes(s);
    }

    @Test
    void backendThrowingErrors_failsThoseRequestsWithEioAndKeepsServing() throws Exception {
        MemoryBackend mem = new MemoryBackend(SIZE);
        // Offset 0: the backend throws an Error at once; offset 4096: its future fails with one.
        BlockBackend buggy = new BlockBackend() {
            @Override public long size() { return mem.size(); }
            @Override public CompletableFuture<Void> pread(ByteBuf dst, long offset, int length, int flags) {
                return mem.pread(dst, offset, length, flags);
            }
            @Override public CompletableFuture<Void> pwrite(ByteBuf src, long offset, int flags) {
                if (offset == 0) {
                    throw new AssertionError("backend bug");
                }
                if (offset == 4096) {
                    return CompletableFuture.failedFuture(new StackOverflowError());
                }
                return mem.pwrite(src, offset, flags);
            }
        };
        NbdServer s = serve(buggy, NbdServerConfig.DEFAULTS);
        try (RawClient c = RawClient.tcp(s.tcpPort()).go("", false)) {
            c.request(0, NBD_CMD_WRITE, 1, 0, 4096, new byte[4096]);
            c.request(0, NBD_CMD_WRITE, 2, 4096, 4096, new byte[4096]);
            c.flush();
            assertThat(Set.of(c.readSimple(), c.readSimple()))
                    .isEqualTo(Set.of(new RawClient.Reply(1, BackendException.EIO), new RawClient.Reply(2, BackendException.EIO)));
            byte[] d = new byte[4096];
            new Random(2).nextBytes(d);
            c.request(0, NBD_CMD_WRITE, 3, 8192, d.length, d);
            c.request(0, NBD_CMD_READ, 4, 8192, d.length, null);
            c.flush();
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(3, 0));
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(4, 0));
            assertThat(c.readData(d.length)).isEqualTo(d);
        }
    }

    @Test
    void frameTrickledOneByteAtATime_isServed() throws Exception {
        NbdServer s = serve(file(), NbdServerConfig.DEFAULTS);
        try (RawClient c = RawClient.unix(dir.resolve("s.sock")).go("", false)) {
            byte[] d = new byte[4096];
            new Random(2).nextBytes(d);
            java.io.ByteArrayOutputStream bo = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream o = new java.io.DataOutputStream(bo);
            o.writeInt(NBD_REQUEST_MAGIC);
            o.writeShort(NBD_CMD_FLAG_FUA);
            o.writeShort(NBD_CMD_WRITE);
            o.writeLong(42);
            o.writeLong(4096);
            o.writeInt(4096);
            o.write(d);
            byte[] frame = bo.toByteArray();
            for (int i = 0; i < 28; i++) {
                c.out.write(frame[i]);
                c.out.flush();
            }
            for (int i = 28; i < frame.length; i += 997) {
                c.out.write(frame, i, Math.min(997, frame.length - i));
                c.out.flush();
            }
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(42, 0));
            c.request(0, NBD_CMD_READ, 43, 4096, 4096, null);
            c.flush();
            assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(43, 0));
            assertThat(c.readData(4096)).isEqualTo(d);
        }
    }

    @Test
    void badRequestMagic_closesOnlyThatConnection() throws Exception {
        NbdServer s = serve(file(), NbdServerConfig.DEFAULTS);
        try (RawClient good = RawClient.tcp(s.tcpPort()).go("", false);
             RawClient bad = RawClient.tcp(s.tcpPort()).go("", false)) {
            bad.out.writeInt(0xdeadbeef);
            bad.out.write(new byte[24]);
            bad.flush();
            assertThat(bad.closedByServer(WAIT.toMillis())).isTrue();
            good.request(0, NBD_CMD_FLUSH, 5, 0, 0, null);
            good.flush();
            assertThat(good.readSimple()).isEqualTo(new RawClient.Reply(5, 0));
        }
    }

    @Test
    void silentClient_isDisconnectedAfterHandshakeTimeout() throws Exception {
        NbdServer s = serve(file(), NbdServerConfig.DEFAULTS.withHandshakeTimeout(Duration.ofMillis(500)));
        try (RawClient c = RawClient.tcp(s.tcpPort())) {
            assertThat(c.closedByServer(WAIT.toMillis())).isTrue();
        }
        assertServes(s);
    }

    @Test
    void thousandIdleConnections_serverStillServesAndClosesThemAll() throws Exception {
        NbdServer s = serve(file(), NbdServerConfig.DEFAULTS.toBuilder().maxConnections(1001).build());
        List<RawClient> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 1000; i++) {
                RawClient c = i % 2 == 0 ? RawClient.tcp(s.tcpPort()) : RawClient.unix(dir.resolve("s.sock"));
                idle.add(c);
                if (i % 4 < 2) {
                    c.go("", false); // half in transmission, half stuck before the handshake
                }
            }
            await().atMost(WAIT).until(() -> s.connectionCount() == 1000);
            assertServes(s);
        } finally {
            for (RawClient c : idle) {
                c.close();
            }
        }
        await().atMost(WAIT).until(() -> s.connectionCount() == 0);
    }

    @Test
    void graceful_stop_letsInFlightFinishRefusesNewAndLeavesNoThreads() throws Exception {
        Set<String> before = serverThreads();
        ScheduledExecutorService slow = Executors.newSingleThreadScheduledExecutor();
        MemoryBackend mem = new MemoryBackend(SIZE, r -> slow.schedule(r, 300, TimeUnit.MILLISECONDS), false);
        NbdServer s = NbdServer.builder().export(new NbdExport("", null, mem)).ioThreads(2)
                .listen(new NbdListener.Tcp("127.0.0.1", 0)).start();
        RawClient c = RawClient.tcp(s.tcpPort()).go("", false);
        c.request(0, NBD_CMD_FLUSH, 1, 0, 0, null);
        c.flush();
        await().atMost(WAIT).until(() -> s.connectionCount() == 1);
        Thread closer = Thread.ofPlatform().start(s::close);
        // the in-flight flush completes and is answered before the connection closes
        assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(1, 0));
        assertThat(c.closedByServer(WAIT.toMillis())).isTrue();
        closer.join(WAIT.toMillis());
        c.close();
        slow.shutdownNow();
        assertThat(RawClient.class).isNotNull();
        await().atMost(WAIT).untilAsserted(() -> assertThat(serverThreads()).isEqualTo(before));
        assertThat(AlignedBufferPool.SHARED.outstanding()).isZero();
    }

    @Test
    void fileBackendClose_stopsItsIoThreads() throws Exception {
        Set<String> before = serverThreads();
        FileBackend b = file();
        cleanup.remove(b);
        NbdServer s = NbdServer.builder().export(new NbdExport("", null, b)).ioThreads(1)
                .listen(new NbdListener.Tcp("127.0.0.1", 0)).start();
        assertServes(s);
        s.close();
        b.close();
        await().atMost(WAIT).untilAsserted(() -> assertThat(serverThreads()).isEqualTo(before));
    }
}
