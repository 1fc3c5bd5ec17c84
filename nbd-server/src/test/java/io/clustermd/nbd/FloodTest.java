package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.clustermd.nbd.file.AlignedBufferPool;
import io.netty.util.internal.PlatformDependent;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that pipeline far more than the server takes, over real sockets: libnbd
 * ({@code src/test/resources/load/nbd_flood.py}, python3-libnbd) floods of reads and writes from
 * the minimum block size to 32 MiB, several at once next to a well-behaved client, a client that
 * never reads its replies, a storm of connections, a stop under flood, and half a million requests
 * pipelined on one socket. Every reply is checked, and the server's direct memory and in-flight
 * figures are sampled throughout and must stay inside what its limits allow.
 *
 * <p>The libnbd floods keep 8,192 requests in flight at the client (64 times the server's
 * per-connection limit). Sent all at once, 60,000 reads take two minutes here: with the leak
 * detector at PARANOID the server answers slowly, the client's list of commands in flight stays
 * long, and libnbd searches that list for every reply. {@code scripts/bench nbd-load} runs the
 * 60,000-at-once case against the daemons (under 2 s).
 */
class FloodTest {
    private static final long SIZE = 64L << 20;
    private static final Duration LONG = Duration.ofSeconds(180);
    private static final Pattern FIELD = Pattern.compile("\"(\\w+)\": (-?[0-9.]+)");

    @TempDir
    Path dir;
    private TestServer srv;
    private final MemorySampler sampler = new MemorySampler();

    @BeforeAll
    static void watchLeaks() {
        LeakWatcher.install();
    }

    @BeforeEach
    void start() throws Exception {
        start(NbdServerConfig.DEFAULTS);
    }

    private void start(NbdServerConfig cfg) throws Exception {
        if (srv != null) {
            sampler.stop();
            srv.close();
        }
        srv = new TestServer(dir, SIZE, cfg, NbdServer.resolve(NbdServer.Transport.AUTO));
        sampler.start(srv.server);
    }

    @AfterEach
    void stop() throws Exception {
        sampler.stop();
        srv.close();
        LeakWatcher.assertNoLeaks();
    }

    /** Samples the server's figures every few milliseconds while a test runs. */
    static final class MemorySampler {
        private final BufferPoolMXBean jdkDirect = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
                .stream().filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
        private final AtomicLong maxDirect = new AtomicLong();
        private final AtomicLong maxPool = new AtomicLong();
        private volatile boolean running;
        private Thread thread;
        private NbdServer server;

        void start(NbdServer s) {
            server = s;
            running = true;
            thread = Thread.ofPlatform().daemon().name("memory-sampler").start(() -> {
                while (running) {
                    sample();
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        private void sample() {
            maxDirect.accumulateAndGet(PlatformDependent.usedDirectMemory() + jdkDirect.getMemoryUsed(), Math::max);
            maxPool.accumulateAndGet(AlignedBufferPool.SHARED.allocatedBytes(), Math::max);
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join();
        }

        /** Asserts the server stayed inside its limits, and its direct memory inside their bound. */
        void assertWithinBudget() {
            sample();
            NbdServer.Stats st = server.stats();
            NbdServerConfig c = server.config();
            assertThat(st.peakRequestsInFlight()).isLessThanOrEqualTo(c.serverMaxInFlight());
            assertThat(st.peakBytesInFlight()).isLessThanOrEqualTo(c.serverMaxInFlightBytes());
            // The pool: buffers in flight (their footprints are what the budget counts) plus idle ones;
            // the file backend's zero buffer is outside the budget.
            assertThat(maxPool.get()).as("aligned pool bytes")
                    .isLessThanOrEqualTo(c.serverMaxInFlightBytes() + AlignedBufferPool.SHARED.maxIdleBytes() + (2L << 20));
            // All direct memory: Netty's chunks for socket reads and reply headers come on top; the
            // test JVM's own direct buffers too. A quarter of the bound covers both.
            assertThat(maxDirect.get()).as("direct memory (bound %d)", c.directMemoryBound())
                    .isLessThanOrEqualTo(c.directMemoryBound() + c.directMemoryBound() / 4);
        }
    }

    private static Path script() throws Exception {
        return Path.of(FloodTest.class.getResource("/load/nbd_flood.py").toURI());
    }

    /** Runs nbd_flood.py to completion; asserts exit 0 and returns its JSON figures. */
    private static java.util.Map<String, Double> flood(String... args) throws Exception {
        // Through env: Proc puts /usr/bin first on the child's PATH, where python3-libnbd's python is.
        List<String> cmd = new ArrayList<>(List.of("env", "python3", script().toString()));
        cmd.addAll(List.of(args));
        String out = Proc.ok(LONG, cmd.toArray(String[]::new));
        java.util.Map<String, Double> m = new java.util.HashMap<>();
        Matcher mm = FIELD.matcher(out);
        while (mm.find()) {
            m.put(mm.group(1), Double.parseDouble(mm.group(2)));
        }
        return m;
    }

    private static CompletableFuture<java.util.Map<String, Double>> floodAsync(String... args) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return flood(args);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, r -> Thread.ofPlatform().start(r));
    }

    private void fill(int seed) throws Exception {
        flood("fill", srv.tcpUri(""), "--seed", Integer.toString(seed));
    }

    @Test
    void flood_60000ReadsOverTcpAnd20000OverUnix_everyReplyCorrectAndMemoryWithinBudget() throws Exception {
        fill(1);
        var tcp = floodAsync("flood", srv.tcpUri(""), "--seed", "1", "--requests", "60000", "--window", "8192");
        var unix = floodAsync("flood", srv.unixUri(""), "--seed", "1", "--requests", "20000", "--window", "8192",
                "--rng", "2");
        assertThat(tcp.get().get("ok")).isEqualTo(60000.0);
        assertThat(unix.get().get("ok")).isEqualTo(20000.0);
        assertThat(tcp.get().get("client_max_in_flight")).isGreaterThan(4000.0);
        sampler.assertWithinBudget();
    }

    @Test
    void flood_writesAndReadsFromMinBlockTo32MiB_dataIntact() throws Exception {
        fill(1);
        var f = flood("flood", srv.tcpUri(""), "--seed", "2", "--old-seed", "1", "--op", "mixed", "--requests", "400",
                "--sizes", "4096,8192,65536,1048576,4194304,16777216,33554432");
        assertThat(f.get("ok")).isEqualTo(400.0);
        assertThat(f.get("written_sectors")).isGreaterThan(10000.0);
        sampler.assertWithinBudget();
        assertThat(srv.server.stats().peakBytesInFlight()).isGreaterThan(32L << 20);
    }

    @Test
    void overlapping1KiBWritesFromFourClients_unalignedToTheBlockSize_areAllRefusedAndChangeNothing() throws Exception {
        fill(1);
        List<CompletableFuture<java.util.Map<String, Double>>> writers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            // 1 KiB writes at 512-byte offsets inside the first 64 KiB: they overlap each other and
            // every 4 KiB block of the O_DIRECT export, from four connections at once.
            writers.add(floodAsync("flood", i % 2 == 0 ? srv.tcpUri("") : srv.unixUri(""), "--seed", "3",
                    "--op", "write", "--requests", "2000", "--window", "256", "--sizes", "1024", "--align", "512",
                    "--range", "65536", "--rng", Integer.toString(i), "--no-strict-align",
                    "--expect-errno", Integer.toString(NBD_EINVAL)));
        }
        for (var w : writers) {
            assertThat(w.get().get("refused")).isEqualTo(2000.0);
        }
        // Aligned writes around them still go through, and every sector still holds seed 1.
        var aligned = flood("flood", srv.tcpUri(""), "--seed", "1", "--op", "write", "--requests", "200", "--sizes",
                "4096");
        assertThat(aligned.get("ok")).isEqualTo(200.0);
        var v = flood("verify", srv.tcpUri(""), "--seed", "1");
        assertThat(v.get("bad_chunks")).isZero();
    }

    @Test
    void fourFloodingClientsAndAWellBehavedOne_theWellBehavedP99StaysBounded() throws Exception {
        fill(1);
        Path stop = dir.resolve("stop");
        List<CompletableFuture<java.util.Map<String, Double>>> floods = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            floods.add(floodAsync("flood", i % 2 == 0 ? srv.tcpUri("") : srv.unixUri(""), "--seed", "2", "--old-seed",
                    "1", "--op", "mixed", "--requests", "10000", "--window", "8192", "--rng", Integer.toString(i),
                    "--sizes", "4096,65536"));
        }
        var probe = floodAsync("probe", srv.tcpUri(""), "--seconds", "60", "--stop-file", stop.toString());
        for (var f : floods) {
            assertThat(f.get().get("ok")).isEqualTo(10000.0);
        }
        java.nio.file.Files.createFile(stop);
        var p = probe.get();
        System.out.printf("well-behaved client next to four floods: %s%n", p);
        assertThat(p.get("requests")).isGreaterThan(50.0);
        assertThat(p.get("p99_ms")).as("p99 of the well-behaved client, ms").isLessThan(500.0);
        sampler.assertWithinBudget();
    }

    @Test
    void clientThatNeverReadsReplies_stallsOnlyItselfAndIsDroppedAfterTheTimeout() throws Exception {
        start(NbdServerConfig.DEFAULTS.toBuilder().replyStallTimeout(Duration.ofSeconds(2)).build());
        RawClient stuck = RawClient.tcp(srv.server.tcpPort()).go("", false);
        // 4 KiB reads: what the connection may hold (128 requests, about 0.5 MiB of replies) stays
        // under the channel's high-water mark, so it is the paused connection that is watched.
        for (int i = 0; i < 10000; i++) {
            stuck.request(0, NBD_CMD_READ, i, (i * 4096L) % SIZE, 4096, null);
        }
        stuck.flush();
        await().atMost(LONG).until(() -> srv.server.stats().bytesInFlight() > 0);
        long t0 = System.nanoTime();
        // Another client is served meanwhile.
        var probe = flood("probe", srv.unixUri(""), "--seconds", "1");
        assertThat(probe.get("requests")).isGreaterThan(10.0);
        // The stuck one is dropped (replyStallTimeout 2 s) and what it held is given back.
        await().atMost(LONG).until(() -> srv.server.connectionCount() == 0);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThan(Duration.ofSeconds(2));
        assertThat(stuck.closedByServer(30_000)).isTrue();
        await().atMost(LONG).until(() -> srv.server.stats().requestsInFlight() == 0);
        stuck.close();
        sampler.assertWithinBudget();
    }

    @Test
    void connectionStorm_1000ConnectsAndDisconnects_serverKeepsServingAndHoldsNothing() throws Exception {
        List<CompletableFuture<Void>> workers = new ArrayList<>();
        for (int w = 0; w < 8; w++) {
            int worker = w;
            workers.add(CompletableFuture.runAsync(() -> {
                for (int i = 0; i < 125; i++) {
                    try (RawClient c = i % 2 == 0 ? RawClient.tcp(srv.server.tcpPort()) : RawClient.unix(srv.socket)) {
                        if (i % 5 == 4) {
                            continue; // hang up before the handshake
                        }
                        c.go("", false);
                        c.request(0, NBD_CMD_READ, i, 4096L * (worker * 125 + i), 4096, null);
                        c.flush();
                        if (i % 3 == 0) {
                            continue; // hang up with the read in flight
                        }
                        assertThat(c.readSimple()).isEqualTo(new RawClient.Reply(i, 0));
                        c.readData(4096);
                        c.request(0, NBD_CMD_DISC, 0, 0, 0, null);
                        c.flush();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            }, r -> Thread.ofPlatform().start(r)));
        }
        CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new)).get();
        await().atMost(LONG).until(() -> srv.server.connectionCount() == 0 && srv.server.stats().requestsInFlight() == 0);
        assertThat(srv.server.stats().connectionsRefused()).isZero();
        var f = flood("flood", srv.tcpUri(""), "--requests", "1000", "--window", "64", "--op", "write");
        assertThat(f.get("ok")).isEqualTo(1000.0);
        sampler.assertWithinBudget();
    }

    @Test
    void pipeline_500000RequestsOnOneSocket_allAnsweredOnce() throws Exception {
        int n = 500_000;
        try (RawClient c = RawClient.unix(srv.socket).go("", false)) {
            ConcurrentHashMap<Long, Boolean> answered = new ConcurrentHashMap<>();
            CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        RawClient.Reply r = c.readSimple();
                        assertThat(r.error()).isZero();
                        if (r.cookie() % 2 == 0) {
                            c.in.skipNBytes(4096);
                        }
                        assertThat(answered.put(r.cookie(), true)).isNull();
                    }
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().start(r));
            for (long i = 0; i < n; i++) {
                // Even cookies read 4 KiB, odd ones flush: the client never waits.
                if (i % 2 == 0) {
                    c.request(0, NBD_CMD_READ, i, (i * 4096) % SIZE, 4096, null);
                } else {
                    c.request(0, NBD_CMD_FLUSH, i, 0, 0, null);
                }
            }
            c.flush();
            reader.get();
            assertThat(answered).hasSize(n);
        }
        sampler.assertWithinBudget();
    }

    @Test
    void stop_underFlood_inFlightRequestsAnsweredAndConnectionsClosedWithinTheGrace() throws Exception {
        fill(1);
        var a = CompletableFuture.supplyAsync(() -> {
            try {
                return Proc.run(LONG, "env", "python3", script().toString(), "flood", srv.tcpUri(""), "--seed", "1",
                        "--requests", "200000", "--window", "4096", "--timeout", "60");
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, r -> Thread.ofPlatform().start(r));
        await().atMost(LONG).until(() -> srv.server.stats().requestsInFlight() > 0);
        long t0 = System.nanoTime();
        srv.server.close();
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        System.out.printf("stop under flood took %d ms%n", took.toMillis());
        assertThat(took).isLessThan(srv.server.config().shutdownGrace().plusSeconds(5));
        // The client learns of the stop (ESHUTDOWN or a closed connection) and ends; it does not hang.
        Proc.Result r = a.get();
        assertThat(r.exit()).as(r.output()).isNotZero();
        assertThat(srv.server.connectionCount()).isZero();
        assertThat(srv.server.stats().requestsInFlight()).isZero();
    }
}
