package io.clustermd.test.history;

import io.clustermd.test.history.History.EventKind;
import io.clustermd.test.history.History.NodeEvent;
import io.clustermd.test.history.History.Read;
import io.clustermd.test.history.History.Write;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * Checks a {@link History} against the array's consistency contract, block by block:
 *
 * <ol>
 *   <li>A write id appears only on its own block; a quiet read's sectors all carry one id (else it
 *       is torn); a sector holding bytes the test never wrote is always wrong.</li>
 *   <li>An unfinished write (its node died before it answered) is in flight from its t0 until the
 *       first {@code recovered} event of its node after that t0, or for ever if none comes.</li>
 *   <li>A quiet read (one that overlaps no write of its block: {@code write.t0 < read.t1} and
 *       {@code write end > read.t0}) returns the newest acknowledged write completed before it began
 *       (0 if none), or an unfinished write invoked after that write's t1 and before the read's t0.</li>
 *   <li>The quiet reads between two consecutive write events of a block (a start, an
 *       acknowledgement, a recovery) all return the same id: no flip-flop after a recovery.</li>
 *   <li>A read overlapping writes returns, in each sector, what rule 3 allows or one of the
 *       writes it overlaps.</li>
 * </ol>
 *
 * Writes of one block never overlap each other (the client holds a per-block lock until the
 * write is acknowledged or its node's death is resolved), so "newest" is well defined. Failed
 * reads are ignored.
 */
public final class HistoryChecker {

    /** A broken rule; the label starts every violation's text. */
    public enum Rule {
        FOREIGN_ID(1, "id of another block"),
        DUPLICATE_ID(1, "write id used twice"),
        TORN_READ(1, "torn quiet read"),
        UNWRITTEN_BYTES(1, "bytes the test never wrote"),
        CONCURRENT_WRITES(1, "acknowledged writes of one block overlap"),
        LOST_WRITE(3, "lost acknowledged write"),
        VALUE_FROM_NOWHERE(3, "value from nowhere"),
        VALUE_FROM_FUTURE(3, "value from the future"),
        FLIP_FLOP(4, "flip-flop"),
        STALE_READ(5, "stale read");

        private final int number;
        private final String label;

        Rule(int number, String label) {
            this.number = number;
            this.label = label;
        }

        /** The rule's number in the class comment. */
        public int number() {
            return number;
        }

        public String label() {
            return label;
        }
    }

    /** One broken rule on one block; {@link #text()} names the rule, the block and the operations. */
    public record Violation(Rule rule, long block, String detail) {
        public String text() {
            return rule.label() + " (rule " + rule.number() + "): block " + block + ": " + detail;
        }

        @Override
        public String toString() {
            return text();
        }
    }

    /** The outcome of a check: its violations and what was checked. */
    public record Report(List<Violation> violations, int writesAcknowledged, int writesUnfinished,
                         int readsChecked, int quietReads, int blocks) {

        public boolean ok() {
            return violations.isEmpty();
        }

        /** The counts, one line. */
        public String summary() {
            return String.format(Locale.ROOT,
                    "%d blocks, %d writes acknowledged, %d unfinished, %d reads checked (%d quiet), %d violations",
                    blocks, writesAcknowledged, writesUnfinished, readsChecked, quietReads, violations.size());
        }

        /** The counts, the violations per rule and the first {@code max} violations, one per line. */
        public String describe(int max) {
            StringBuilder b = new StringBuilder(summary());
            if (!violations.isEmpty()) {
                Map<Rule, Long> byRule = violations.stream()
                        .collect(Collectors.groupingBy(Violation::rule, () -> new EnumMap<>(Rule.class),
                                Collectors.counting()));
                b.append("\nby rule: ").append(byRule.entrySet().stream()
                        .map(e -> e.getKey().label() + " " + e.getValue()).collect(Collectors.joining(", ")));
                violations.stream().limit(max).forEach(v -> b.append("\n  ").append(v.text()));
                if (violations.size() > max) {
                    b.append("\n  … and ").append(violations.size() - max).append(" more");
                }
            }
            return b.toString();
        }

        @Override
        public String toString() {
            return describe(20);
        }
    }

    private HistoryChecker() {
    }

    public static Report check(History history) {
        return new Run(history).check();
    }

    /** One check: the history's indexes and the violations found so far. */
    private static final class Run {
        final List<Write> writes;
        final List<Read> reads;
        final Map<Integer, long[]> recoveries = new HashMap<>();
        final Map<Long, Write> byId = new HashMap<>();
        final List<Violation> violations = new ArrayList<>();
        final long origin;
        int quietReads;

        Run(History history) {
            writes = history.writes();
            reads = history.reads().stream().filter(Read::ok).toList();
            Map<Integer, List<Long>> times = new HashMap<>();
            for (NodeEvent e : history.events()) {
                if (e.kind() == EventKind.RECOVERED) {
                    times.computeIfAbsent(e.node(), n -> new ArrayList<>()).add(e.t());
                }
            }
            times.forEach((node, ts) -> recoveries.put(node,
                    ts.stream().mapToLong(Long::longValue).sorted().toArray()));
            origin = LongStream.concat(writes.stream().mapToLong(Write::t0), history.reads().stream()
                    .mapToLong(Read::t0)).min().orElse(0);
        }

        Report check() {
            Map<Long, List<Write>> writesOf = new TreeMap<>();
            for (Write w : writes) {
                writesOf.computeIfAbsent(w.block(), b -> new ArrayList<>()).add(w);
                Write earlier = byId.putIfAbsent(w.id(), w);
                if (earlier != null) {
                    violations.add(new Violation(Rule.DUPLICATE_ID, w.block(),
                            describe(earlier) + " and " + describe(w)));
                }
            }
            Map<Long, List<Read>> readsOf = new TreeMap<>();
            reads.forEach(r -> readsOf.computeIfAbsent(r.block(), b -> new ArrayList<>()).add(r));
            Set<Long> blocks = new TreeSet<>(writesOf.keySet());
            blocks.addAll(readsOf.keySet());
            for (long block : blocks) {
                new BlockCheck(this, block, writesOf.getOrDefault(block, List.of()),
                        readsOf.getOrDefault(block, List.of())).run();
            }
            int acked = (int) writes.stream().filter(Write::ok).count();
            return new Report(List.copyOf(violations), acked, writes.size() - acked, reads.size(), quietReads,
                    blocks.size());
        }

        /** When an unfinished write of {@code node} invoked at {@code t0} stops being in flight (rule 2). */
        long recoveryAfter(int node, long t0) {
            long[] ts = recoveries.get(node);
            if (ts == null) {
                return Long.MAX_VALUE;
            }
            int i = BlockCheck.countAtOrBefore(ts, t0);
            return i < ts.length ? ts[i] : Long.MAX_VALUE;
        }

        String ms(long t) {
            return String.format(Locale.ROOT, "%.3f", (t - origin) / 1e6);
        }

        String describe(Write w) {
            return "write id " + w.id() + " (node " + w.node() + ", "
                    + (w.ok() ? ms(w.t0()) + ".." + ms(w.t1()) + " ms" : "from " + ms(w.t0()) + " ms, unacknowledged")
                    + ")";
        }

        String describe(Read r) {
            return "read (node " + r.node() + ", " + ms(r.t0()) + ".." + ms(r.t1()) + " ms) got "
                    + (whole(r) ? "id " + r.got()[0] : Arrays.toString(r.got()));
        }

        /** Whether every sector of the read holds the same id. */
        static boolean whole(Read r) {
            long[] got = r.got();
            return Arrays.stream(got).allMatch(g -> g == got[0]);
        }
    }

    /** Rules 1 to 5 on the writes and reads of one block. */
    private static final class BlockCheck {
        final Run run;
        final long block;
        final List<Write> writes;
        /** Acknowledged writes by time (they never overlap each other) and their t0 and t1. */
        final List<Write> acked;
        final long[] ackedT0;
        final long[] ackedT1;
        /** Unfinished writes (few: only deaths make them) and when each stops being in flight (rule 2). */
        final List<Write> unfinished;
        final long[] unfinishedEnd;
        /** Every write event in time order: starts, acknowledgements, recoveries. */
        final long[] boundaries;
        final List<Read> reads;

        BlockCheck(Run run, long block, List<Write> writes, List<Read> reads) {
            this.run = run;
            this.block = block;
            this.writes = writes.stream().sorted(Comparator.comparingLong(Write::t0).thenComparingLong(Write::id))
                    .toList();
            this.reads = reads.stream().sorted(Comparator.comparingLong(Read::t0)).toList();
            acked = this.writes.stream().filter(Write::ok).toList();
            ackedT0 = acked.stream().mapToLong(Write::t0).toArray();
            ackedT1 = acked.stream().mapToLong(Write::t1).toArray();
            unfinished = this.writes.stream().filter(w -> !w.ok()).toList();
            unfinishedEnd = unfinished.stream().mapToLong(w -> run.recoveryAfter(w.node(), w.t0())).toArray();
            boundaries = LongStream.concat(this.writes.stream().mapToLong(Write::t0),
                    LongStream.concat(Arrays.stream(ackedT1), Arrays.stream(unfinishedEnd)))
                    .filter(t -> t != Long.MAX_VALUE).sorted().toArray();
        }

        void run() {
            for (int i = 1; i < acked.size(); i++) {
                Write a = acked.get(i - 1);
                Write b = acked.get(i);
                if (b.t0() < a.t1()) {
                    violate(Rule.CONCURRENT_WRITES, run.describe(a) + " and " + run.describe(b));
                }
            }
            Map<Integer, List<Read>> quietBySegment = new TreeMap<>();
            for (Read r : reads) {
                if (checkRead(r)) {
                    quietBySegment.computeIfAbsent(segment(r.t0()), s -> new ArrayList<>()).add(r);
                }
            }
            quietBySegment.forEach(this::checkNoFlipFlop);
        }

        /** Rules 1, 3 and 5 on one read; true if it is a quiet, whole and valid read (for rule 4). */
        boolean checkRead(Read r) {
            long[] got = r.got();
            if (Arrays.stream(got).anyMatch(g -> g == History.UNWRITTEN)) {
                violate(Rule.UNWRITTEN_BYTES,
                        run.describe(r) + " (-1: a sector neither zero nor written to this block)");
                return false;
            }
            List<Write> overlapping = overlapping(r);
            boolean quiet = overlapping.isEmpty();
            Write base = newestAcknowledgedBefore(r.t0());
            Set<Long> allowed = new LinkedHashSet<>();
            allowed.add(base == null ? History.ZERO : base.id());
            for (Write u : unfinished) {
                if ((base == null || u.t0() > base.t1()) && u.t0() < r.t0()) {
                    allowed.add(u.id());
                }
            }
            overlapping.forEach(w -> allowed.add(w.id()));
            if (quiet) {
                run.quietReads++;
                if (!Run.whole(r)) {
                    violate(Rule.TORN_READ, run.describe(r) + ", overlapping no write of the block");
                    return false;
                }
            }
            boolean valid = true;
            for (long id : Arrays.stream(got).distinct().toArray()) {
                if (!allowed.contains(id)) {
                    reportUnexpected(r, id, base, allowed, quiet);
                    valid = false;
                }
            }
            return quiet && valid;
        }

        void reportUnexpected(Read r, long id, Write base, Set<Long> allowed, boolean quiet) {
            Write w = id == History.ZERO ? null : run.byId.get(id);
            String expected = "; expected " + (base == null ? "zeros (no write acknowledged before)"
                    : "the newest acknowledged " + run.describe(base))
                    + (allowed.size() > 1 ? ", or one of ids " + allowed : "");
            String read = run.describe(r) + (Run.whole(r) ? "" : ": id " + id);
            if (id != History.ZERO && w == null) {
                violate(Rule.VALUE_FROM_NOWHERE, read + ", which no write used" + expected);
            } else if (w != null && w.block() != block) {
                violate(Rule.FOREIGN_ID, read + ", the " + run.describe(w) + " of block " + w.block() + expected);
            } else if (w != null && w.t0() >= r.t1()) {
                violate(Rule.VALUE_FROM_FUTURE, read + ", the " + run.describe(w) + " that began after the read ended"
                        + expected);
            } else {
                String what = id == History.ZERO ? " (zeros)" : ", the older " + run.describe(w);
                violate(quiet ? Rule.LOST_WRITE : Rule.STALE_READ, read + what + expected);
            }
        }

        /** Rule 4: one value between two write events. */
        void checkNoFlipFlop(int segment, List<Read> quiet) {
            List<Read> changes = new ArrayList<>();
            Read previous = null;
            for (Read r : quiet) {
                if (previous == null || previous.got()[0] != r.got()[0]) {
                    changes.add(r);
                }
                previous = r;
            }
            if (changes.size() < 2) {
                return;
            }
            String from = segment == 0 ? "the start" : run.ms(boundaries[segment - 1]) + " ms";
            String to = segment == boundaries.length ? "the end" : run.ms(boundaries[segment]) + " ms";
            String values = changes.stream().map(r -> Long.toString(r.got()[0])).collect(Collectors.joining(", "));
            violate(Rule.FLIP_FLOP, "quiet reads between write events at " + from + " and " + to
                    + " returned ids " + values + ": " + changes.stream().limit(8).map(run::describe)
                    .collect(Collectors.joining("; ")));
        }

        /** The writes in flight during the read: {@code t0 < read.t1} and end {@code > read.t0}. */
        List<Write> overlapping(Read r) {
            List<Write> found = new ArrayList<>();
            for (int i = countAtOrBefore(ackedT0, r.t1() - 1) - 1; i >= 0 && ackedT1[i] > r.t0(); i--) {
                found.add(acked.get(i));
            }
            for (int i = 0; i < unfinished.size(); i++) {
                if (unfinished.get(i).t0() < r.t1() && unfinishedEnd[i] > r.t0()) {
                    found.add(unfinished.get(i));
                }
            }
            return found;
        }

        Write newestAcknowledgedBefore(long t) {
            int n = countAtOrBefore(ackedT1, t);
            return n == 0 ? null : acked.get(n - 1);
        }

        /** Which stretch between write events {@code t} lies in: how many events lie at or before it. */
        int segment(long t) {
            return countAtOrBefore(boundaries, t);
        }

        /** How many of the sorted {@code times} are at or before {@code t}. */
        static int countAtOrBefore(long[] times, long t) {
            int lo = 0;
            int hi = times.length;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (times[mid] <= t) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        }

        void violate(Rule rule, String detail) {
            run.violations.add(new Violation(rule, block, detail));
        }
    }
}
