package io.clustermd.dlm.tools;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagers;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.Lockspace;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Lock latency benchmark, one process per node: lock+unlock round trips (own resource, and one
 * resource shared by every node), and the md-cluster message exchange (token, message and ack
 * locks, ARCHITECTURE.md section 5), with one sender and with every node sending. Samples go to
 * files; {@code --report DIR} prints p50/p99.
 *
 * <pre>
 * LockBench --lock zk://127.0.0.1:2181/bench --id 0 --nodes 3 --dir DIR [--iterations 1000]
 * LockBench --report DIR
 * </pre>
 */
public final class LockBench {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private final LockManager manager;
    private final int id;
    private final int nodes;
    private final Path dir;
    private final int iterations;
    private final Lockspace ls;
    // md-cluster message locks
    private LockHandle token;
    private LockHandle message;
    private LockHandle ack;
    private final ReentrantLock protocol = new ReentrantLock();
    private final LinkedBlockingQueue<Boolean> bastQueue = new LinkedBlockingQueue<>();
    private final AtomicLong received = new AtomicLong();
    private volatile boolean stopping;

    private LockBench(LockManager manager, int id, int nodes, Path dir, int iterations) {
        this.manager = manager;
        this.id = id;
        this.nodes = nodes;
        this.dir = dir;
        this.iterations = iterations;
        this.ls = manager.openLockspace("cmd-bench", WAIT);
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new TreeMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i], args[i + 1]);
        }
        if (opt.containsKey("--report")) {
            report(Path.of(opt.get("--report")));
            return;
        }
        String lock = required(opt, "--lock");
        int id = Integer.parseInt(required(opt, "--id"));
        int nodes = Integer.parseInt(opt.getOrDefault("--nodes", "3"));
        Path dir = Path.of(required(opt, "--dir"));
        int iterations = Integer.parseInt(opt.getOrDefault("--iterations", "1000"));
        try (LockManager m = LockManagers.open(lock, "bench" + id)) {
            new LockBench(m, id, nodes, dir, iterations).run();
        }
        System.exit(0);
    }

    private static String required(Map<String, String> opt, String name) {
        String v = opt.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing " + name + "; usage: LockBench --lock URI --id N --nodes N --dir DIR "
                    + "[--iterations N] | --report DIR");
        }
        return v;
    }

    private void run() throws Exception {
        setUpMessaging();
        Thread receiver = new Thread(this::receiveLoop, "receiver");
        receiver.setDaemon(true);
        receiver.start();

        barrier("warmup");
        roundTrips("warmup-own", "own-" + id, Math.max(50, iterations / 10), false);

        barrier("own");
        roundTrips("own", "own-" + id, iterations, true);

        barrier("shared");
        roundTrips("shared", "shared", iterations, true);

        barrier("msg1");
        if (id == 0) {
            sendMessages("msg1", iterations);
            Files.writeString(dir.resolve("done-msg1"), "done");
        } else {
            waitFor(dir.resolve("done-msg1"));
        }

        barrier("msgall");
        sendMessages("msgall", Math.max(1, iterations / nodes));
        Files.writeString(dir.resolve("done-msgall-" + id), "done");
        for (int i = 0; i < nodes; i++) {
            waitFor(dir.resolve("done-msgall-" + i));
        }
        barrier("end");
        stopping = true;
        System.err.println("node " + id + ": received " + received.get() + " messages");
    }

    private void roundTrips(String phase, String resource, int n, boolean record) throws Exception {
        long[] samples = new long[n];
        LockHandle h = ls.newLock(resource);
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            check(h.lock(LockMode.EX), "lock " + resource);
            check(h.unlock(), "unlock " + resource);
            samples[i] = System.nanoTime() - t0;
        }
        if (record) {
            write(phase, samples);
        }
    }

    // ---- the md-cluster message exchange ----------------------------------------------------

    private void setUpMessaging() throws Exception {
        token = ls.newLock("token");
        message = ls.newLock("message");
        ack = ls.newLock("ack", (BlockingCallback) (lock, mode) -> {
            if (mode == null || mode == LockMode.EX) {
                bastQueue.offer(Boolean.TRUE);
            }
        });
        check(message.lock(LockMode.NL, LockFlag.VALBLK), "message NL");
        check(ack.lock(LockMode.CR), "ack CR");
    }

    /** md-cluster's __sendmsg with the token around it; returns when every node has processed it. */
    private void send(long seq) throws Exception {
        // 1. token EX: one sender at a time in the cluster.
        check(token.lock(LockMode.EX), "token EX");
        protocol.lock();
        try {
            // 2. message NL -> EX: no receiver is still reading the previous message.
            check(message.convert(LockMode.EX), "message EX");
            // 3. the message into the LVB; 4. EX -> CW publishes it (down-conversion writes the LVB).
            ByteBuffer b = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
            b.put((byte) 1).put((byte) id).putShort((short) 0).putLong(seq).putLong(seq);
            message.setLvb(b.array());
            check(message.convert(LockMode.CW, LockFlag.VALBLK), "message CW");
            // 5. ack CR -> EX: granted once every receiver dropped its CR, i.e. processed the message.
            check(ack.convert(LockMode.EX), "ack EX");
            // 6. ack EX -> CR; 7. message CW -> NL lets receivers finish.
            check(ack.convert(LockMode.CR), "ack CR");
            check(message.convert(LockMode.NL), "message NL");
        } finally {
            protocol.unlock();
            // 8. release the token.
            check(token.unlock(), "token unlock");
        }
    }

    /** md-cluster's recv_daemon, run for every blocking callback on ack. */
    private void receiveLoop() {
        while (!stopping) {
            try {
                Boolean b = bastQueue.poll(100, TimeUnit.MILLISECONDS);
                if (b == null) {
                    continue;
                }
                protocol.lock();
                try {
                    // 1. message NL -> CR reads the LVB the sender published with CW.
                    LockResult r = check(message.convert(LockMode.CR, LockFlag.VALBLK), "recv message CR");
                    byte[] lvb = r.lvb();
                    if (lvb != null && lvb[0] == 1) {
                        received.incrementAndGet();
                    }
                    // 2. ack CR -> NL: this node has the message (lets the sender's ack EX through).
                    check(ack.convert(LockMode.NL), "recv ack NL");
                    // 3. message CR -> PR: waits for the sender's CW -> NL.
                    check(message.convert(LockMode.PR), "recv message PR");
                    // 4. ack NL -> CR: ready for the next message; 5. message PR -> NL.
                    check(ack.convert(LockMode.CR), "recv ack CR");
                    check(message.convert(LockMode.NL), "recv message NL");
                } finally {
                    protocol.unlock();
                }
            } catch (Exception e) {
                if (!stopping) {
                    System.err.println("node " + id + ": receive failed: " + e);
                }
            }
        }
    }

    private void sendMessages(String phase, int n) throws Exception {
        long[] samples = new long[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            send(((long) id << 32) | i);
            samples[i] = System.nanoTime() - t0;
        }
        write(phase, samples);
    }

    // ---- plumbing ---------------------------------------------------------------------------

    private static LockResult check(CompletableFuture<LockResult> f, String what) throws Exception {
        LockResult r = f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        if (r.status() != io.clustermd.dlm.LockStatus.GRANTED && r.status() != io.clustermd.dlm.LockStatus.UNLOCKED) {
            throw new IllegalStateException(what + ": " + r);
        }
        return r;
    }

    private void barrier(String name) throws Exception {
        Files.writeString(dir.resolve("barrier-" + name + "-" + id), "here");
        for (int i = 0; i < nodes; i++) {
            waitFor(dir.resolve("barrier-" + name + "-" + i));
        }
    }

    private static void waitFor(Path p) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        while (!Files.exists(p)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("gave up waiting for " + p);
            }
            Thread.sleep(5);
        }
    }

    private void write(String phase, long[] samples) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (long s : samples) {
            sb.append(s / 1000).append('\n');
        }
        Files.writeString(dir.resolve("samples-" + phase + "-" + id + ".txt"), sb);
    }

    private static void report(Path dir) throws IOException {
        String[][] phases = {
                {"own", "lock EX + unlock, own resource (3 nodes at once)"},
                {"shared", "lock EX + unlock, one resource shared by 3 nodes"},
                {"msg1", "md-cluster message exchange, one sender, 2 receivers"},
                {"msgall", "md-cluster message exchange, all 3 nodes sending"},
        };
        System.out.printf("%-55s %8s %9s %9s %9s%n", "benchmark (zookeeper backend, loopback)", "samples", "p50 ms",
                "p99 ms", "max ms");
        for (String[] p : phases) {
            List<Long> all = new ArrayList<>();
            try (var files = Files.list(dir)) {
                for (Path f : files.filter(f -> f.getFileName().toString().startsWith("samples-" + p[0] + "-")).toList()) {
                    for (String line : Files.readAllLines(f)) {
                        if (!line.isBlank()) {
                            all.add(Long.parseLong(line.trim()));
                        }
                    }
                }
            }
            if (all.isEmpty()) {
                System.out.printf("%-55s %8s%n", p[1], "none");
                continue;
            }
            long[] a = all.stream().mapToLong(Long::longValue).toArray();
            Arrays.sort(a);
            System.out.printf("%-55s %8d %9.2f %9.2f %9.2f%n", p[1], a.length, pct(a, 50) / 1000.0, pct(a, 99) / 1000.0,
                    a[a.length - 1] / 1000.0);
        }
    }

    private static long pct(long[] sorted, int p) {
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }
}
