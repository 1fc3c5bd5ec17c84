package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import io.clustermd.test.history.History;
import io.clustermd.test.history.HistoryChecker;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cluster crash torture: rounds of three real nodes on two shared files under a recorded
 * write/read history, with {@code kill -9} of a node mid-write ({@code mid-write}), or of the node
 * that is resyncing a first victim's chunks ({@code during-resync}: a second death during
 * recovery), or of the node rebuilding a spare that took a failed member's place
 * ({@code during-recovery}: another node continues the recovery from its checkpoint). Each round
 * checks the history against the consistency contract, that a survivor took over each dead slot,
 * {@code check} = 0, identical legs, and that every node got idle in time.
 * Run by {@code scripts/torture cluster} (many rounds) and {@code ClusterTortureTest} (a few).
 */
final class ClusterTorture {

    static final long MIB = 1L << 20;
    static final Path CLIENT = Daemon.ROOT.resolve("test/src/test/resources/history_client.py");
    static final String[] KINDS = {"mid-write", "during-resync", "during-recovery"};

    /** One round's outcome. */
    record Round(long seed, String kind, int writesAcked, int unfinished, int readsChecked, int violations,
                 int lost, long mismatches, boolean legsEqual, boolean hang, List<Long> recoveryStartMs,
                 String error, String violationText) {
        boolean ok() {
            return error == null && violations == 0 && mismatches == 0 && legsEqual && !hang;
        }

        String json() {
            return String.format(Locale.ROOT, "{\"seed\":%d,\"kind\":\"%s\",\"acked\":%d,\"unfinished\":%d,"
                            + "\"reads\":%d,\"violations\":%d,\"lost\":%d,\"mismatches\":%d,\"legs_equal\":%b,"
                            + "\"hang\":%b,\"recovery_start_ms\":%s,\"ok\":%b,\"error\":%s}", seed, kind, writesAcked,
                    unfinished, readsChecked, violations, lost, mismatches, legsEqual, hang, recoveryStartMs, ok(),
                    error == null ? "null" : "\"" + error.replace("\\", "\\\\").replace("\"", "'")
                            .replace("\n", " ") + "\"");
        }
    }

    private final Path base;
    private final Coordinator coordinator;
    /** The array's level options: raid1, or raid10 n2 (on two members its legs are identical too). */
    private final List<String> shape;

    ClusterTorture(Path base, Coordinator coordinator) {
        this(base, coordinator, 1);
    }

    ClusterTorture(Path base, Coordinator coordinator, int level) {
        this.base = base;
        this.coordinator = coordinator;
        this.shape = level == 10 ? List.of("--level=10", "--layout=n2", "--chunk=64K") : List.of("--level=1");
    }

    /** A round whose kind the seed picks. */
    Round run(long seed) throws Exception {
        // SplittableRandom mixes its seed: java.util.Random's first draw is the same for neighbouring seeds.
        return run(seed, KINDS[new java.util.SplittableRandom(seed).nextInt(KINDS.length)]);
    }

    Round run(long seed, String kind) throws Exception {
        Random r = new Random(seed);
        r.nextInt(KINDS.length); // the draw that picked the kind
        Path dir = Files.createDirectories(base.resolve("round-" + seed));
        List<Daemon> nodes = new ArrayList<>();
        List<Process> clients = new ArrayList<>();
        List<Long> recoveryStart = new ArrayList<>();
        try {
            boolean recovery = kind.equals("during-recovery");
            List<Path> files = MemberFiles.sparse(dir, "m-", 3, 24 * MIB);
            List<Path> paths = files.subList(0, 2);
            List<String> args = new ArrayList<>(List.of("create"));
            args.addAll(shape);
            args.addAll(List.of("--raid-devices=2",
                    "--bitmap=clustered", "--nodes=4", "--bitmap-chunk=1M", "--assume-clean", "--home-cluster=t",
                    "--name=shared"));
            paths.forEach(p -> args.add(p.toString()));
            StringWriter err = new StringWriter();
            if (ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                    new PrintWriter(err)) != 0) {
                throw new IllegalStateException("create: " + err);
            }
            // A slow resync, so that a second kill can land in it.
            String[] speed = !kind.equals("mid-write")
                    ? new String[] {"--speed-limit-max", "4000", "--speed-limit-min", "4000"} : new String[0];
            List<java.util.concurrent.CompletableFuture<Daemon>> starting = new ArrayList<>();
            for (int n = 0; n < 3; n++) {
                int node = n;
                starting.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return start(dir, node, paths, speed);
                    } catch (Exception e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }));
            }
            for (var f : starting) {
                nodes.add(f.join());
            }
            List<Integer> slots = new ArrayList<>();
            for (Daemon d : nodes) {
                slots.add(d.status().get("cluster").get("nodeSlot").asInt());
            }
            if (recovery) {
                ok(nodes.get(r.nextInt(3)).ctl("add", files.get(2).toString()));
                awaitSpareEverywhere(nodes);
            }
            Path control = Files.createDirectories(dir.resolve("control"));
            Path history = dir.resolve("history.jsonl");
            Process client = new ProcessBuilder("/usr/bin/python3", CLIENT.toString(), "--uris",
                    String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks", "4096", "--seconds",
                    "120", "--seed", Long.toString(seed), "--out", history.toString(), "--control-dir",
                    control.toString(), "--retire-failed-blocks").redirectErrorStream(true)
                    .redirectOutput(dir.resolve("client.log").toFile()).start();
            clients.add(client);
            History events = History.load();
            Thread.sleep(1000 + r.nextInt(3000));

            List<Path> live = paths;
            int victim;
            if (recovery) {
                // A member fails; the spare takes its role and one node rebuilds it: that one dies.
                ok(nodes.get(r.nextInt(3)).ctl("fail", paths.get(1).toString()));
                victim = awaitRecoverer(nodes);
                Thread.sleep(r.nextInt(1500));
                live = List.of(files.get(0), files.get(2));
            } else {
                victim = r.nextInt(3);
            }
            long killedAt = kill(nodes.get(victim), paths, !recovery && r.nextBoolean());
            events.killed(victim, killedAt);
            int recoverer = awaitTakeover(nodes, victim, slots.get(victim), killedAt, recoveryStart);
            events.recovered(victim, System.nanoTime());
            Files.writeString(control.resolve("recovered-" + victim), "1");
            List<Integer> killed = new ArrayList<>(List.of(victim));
            if (kind.equals("during-resync")) {
                // The recoverer dies while it resyncs the first victim's chunks: the last node takes both over.
                Daemon rec = nodes.get(recoverer);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (!rec.logText().contains("resync of") && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                Thread.sleep(r.nextInt(1500));
                long second = kill(rec, paths, false);
                events.killed(recoverer, second);
                awaitTakeover(nodes, recoverer, slots.get(recoverer), second, recoveryStart);
                events.recovered(recoverer, System.nanoTime());
                Files.writeString(control.resolve("recovered-" + recoverer), "1");
                killed.add(recoverer);
            }
            for (int k : killed) {
                nodes.get(k).fault(paths.get(1), "healthy");
                nodes.set(k, start(dir, k, live));
            }
            Thread.sleep(1500);
            Files.writeString(control.resolve("stop"), "");
            if (!client.waitFor(60, TimeUnit.SECONDS) || client.exitValue() != 0) {
                throw new IllegalStateException("history client: " + Files.readString(dir.resolve("client.log")));
            }
            boolean hang = false;
            for (Daemon d : nodes) {
                try {
                    d.awaitIdle();
                } catch (org.awaitility.core.ConditionTimeoutException e) {
                    hang = true;
                }
            }
            Processes.Result fin = Processes.run(List.of("/usr/bin/python3", CLIENT.toString(), "--final-read",
                    "--uris", String.join(",", nodes.stream().map(Daemon::nbdUri).toList()), "--blocks", "4096",
                    "--out", history.toString()));
            if (fin.exitCode() != 0) {
                throw new IllegalStateException("final read: " + fin.stderr());
            }
            History h = History.load(history);
            events.events().forEach(h::add);
            HistoryChecker.Report report = HistoryChecker.check(h);
            int lost = (int) report.violations().stream()
                    .filter(v -> v.rule().name().contains("LOST")).count();
            // On a restarted node: it runs without the slow speed limit the survivors may have.
            long mismatches = hang ? -1 : nodes.get(killed.get(0)).check();
            boolean legsEqual = java.util.Arrays.equals(Daemon.dataArea(live.get(0), 16 * MIB),
                    Daemon.dataArea(live.get(1), 16 * MIB));
            List<java.util.concurrent.CompletableFuture<Integer>> stops = new ArrayList<>();
            for (Daemon d : nodes) {
                stops.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return d.terminate();
                    } catch (InterruptedException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }));
            }
            stops.forEach(java.util.concurrent.CompletableFuture::join);   // side by side: a stop takes ~2 s
            return new Round(seed, kind, report.writesAcknowledged(), report.writesUnfinished(),
                    report.readsChecked(), report.violations().size(), lost, mismatches, legsEqual, hang,
                    recoveryStart, null, report.ok() ? null : report.describe(10));
        } catch (Exception | AssertionError e) {
            return new Round(seed, kind, 0, 0, 0, 0, 0, 0, false, false, recoveryStart, e.toString(), null);
        } finally {
            for (Process c : clients) {
                c.destroyForcibly();
            }
            for (Daemon d : nodes) {
                d.close();
            }
        }
    }

    private static void ok(Processes.Result result) {
        if (result.exitCode() != 0) {
            throw new IllegalStateException("clusterctl: " + result.stderr());
        }
    }

    private static void awaitSpareEverywhere(List<Daemon> nodes) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        for (Daemon d : nodes) {
            while (!d.ctlHere("status").stdout().contains("(S)")) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the spare did not show on every node within 20 s");
                }
                Thread.sleep(50);
            }
        }
    }

    /** The node whose status shows the recovery running (the others wait: recover=REMOTE). */
    private static int awaitRecoverer(List<Daemon> nodes) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i).ctlHere("status").stdout().contains("recovery =")) {
                    return i;
                }
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no node started the recovery within 20 s");
    }

    private Daemon start(Path dir, int n, List<Path> paths, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("--lock", coordinator.lockUri(), "--node-name",
                "t" + n + "-" + System.nanoTime() % 100000));
        args.addAll(List.of(extra));
        return Daemon.start(dir.resolve("node" + n), "shared", paths, args.toArray(String[]::new));
    }

    /** kill -9, with the node's writes to the second leg held back first when {@code oneLeg}. */
    private static long kill(Daemon d, List<Path> paths, boolean oneLeg) throws Exception {
        if (oneLeg) {
            long dataStart = io.clustermd.md.MemberMetadataReader.read(paths.get(1)).superblock().dataOffset() * 512;
            d.fault(paths.get(1), "stall-writes " + dataStart);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!d.logText().contains("stall-writes") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Thread.sleep(300);
        }
        d.kill9();
        return System.nanoTime();
    }

    /** Waits until a survivor took over the dead node's slot; returns that survivor's index. */
    private static int awaitTakeover(List<Daemon> nodes, int dead, int slot, long killedAt, List<Long> recoveryStart)
            throws Exception {
        Pattern p = Pattern.compile("took over (\\d+) dirty chunk\\(s\\) of slot (\\d+);");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < nodes.size(); i++) {
                if (i == dead || !nodes.get(i).alive()) {
                    continue;
                }
                Matcher m = p.matcher(nodes.get(i).logText());
                while (m.find()) {
                    if (Integer.parseInt(m.group(2)) == slot) {
                        recoveryStart.add((System.nanoTime() - killedAt) / 1_000_000);
                        return i;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no survivor took over slot " + slot + " within 30 s");
    }

    /** The table of a run, as the note and the script print it. */
    static String table(List<Round> rounds) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-16s %6s %9s %10s %5s %10s %10s %5s %6s  %s%n", "kind", "rounds",
                "acked", "unfinished", "lost", "violations", "mismatches", "hangs", "failed",
                "recovery start ms (min/median/max)"));
        List<String> kinds = new ArrayList<>(List.of(KINDS));
        kinds.add("all");
        for (String k : kinds) {
            List<Round> rs = rounds.stream().filter(x -> k.equals("all") || x.kind().equals(k)).toList();
            if (rs.isEmpty()) {
                continue;
            }
            List<Long> starts = new ArrayList<>();
            rs.forEach(x -> starts.addAll(x.recoveryStartMs()));
            starts.sort(Long::compare);
            String rec = starts.isEmpty() ? "-" : starts.get(0) + " / " + starts.get(starts.size() / 2) + " / "
                    + starts.get(starts.size() - 1);
            sb.append(String.format(Locale.ROOT, "%-16s %6d %9d %10d %5d %10d %10d %5d %6d  %s%n", k, rs.size(),
                    rs.stream().mapToLong(Round::writesAcked).sum(), rs.stream().mapToLong(Round::unfinished).sum(),
                    rs.stream().mapToLong(Round::lost).sum(), rs.stream().mapToLong(Round::violations).sum(),
                    rs.stream().mapToLong(x -> Math.max(0, x.mismatches())).sum(),
                    rs.stream().filter(Round::hang).count(), rs.stream().filter(x -> !x.ok()).count(), rec));
        }
        return sb.toString();
    }
}
