package io.clustermd.test.history;

import io.clustermd.test.history.History.EventKind;
import io.clustermd.test.history.History.NodeEvent;
import io.clustermd.test.history.History.Read;
import io.clustermd.test.history.History.Write;
import io.clustermd.test.history.HistoryChecker.Report;
import io.clustermd.test.history.HistoryChecker.Rule;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Unit tests of the checker on small synthetic histories: one that keeps the contract passes, and
 * each rule has a history that breaks it. Times are written in milliseconds.
 */
class HistoryCheckerTest {

    static final long BASE = 5_000_000_000_000L;
    static final int SECTORS = 8;

    @TempDir
    Path dir;

    final History h = new History();

    static long ms(double t) {
        return BASE + Math.round(t * 1e6);
    }

    void write(int node, long block, long id, double t0, double t1) {
        h.add(new Write(node, block, id, ms(t0), ms(t1), true));
    }

    void unfinished(int node, long block, long id, double t0) {
        h.add(new Write(node, block, id, ms(t0), Long.MAX_VALUE, false));
    }

    /** A read; one id given means every sector holds it. */
    void read(int node, long block, double t0, double t1, long... got) {
        long[] sectors = got;
        if (got.length == 1) {
            sectors = new long[SECTORS];
            Arrays.fill(sectors, got[0]);
        }
        h.add(new Read(node, block, ms(t0), ms(t1), true, sectors));
    }

    static void assertOnly(Report report, Rule rule, long block, String... mentions) {
        assertThat(report.violations()).as(report.describe(10)).singleElement().satisfies(v -> {
            assertThat(v.rule()).isEqualTo(rule);
            assertThat(v.block()).isEqualTo(block);
            assertThat(v.text()).startsWith(rule.label()).contains("block " + block).contains(mentions);
        });
    }

    @Test
    void check_historyKeepingTheContract_passesAndCounts() {
        read(0, 3, 0, 1, 0);
        write(0, 3, 1, 2, 3);
        read(1, 3, 4, 5, 1);
        write(1, 3, 2, 6, 7);
        read(0, 3, 8, 9, 2);
        read(1, 3, 8.5, 9.5, 2);
        write(0, 4, 3, 1, 2);
        read(1, 4, 1.5, 3, 0);
        read(0, 4, 3, 4, 3);
        h.add(new Read(1, 4, ms(5), ms(6), false, new long[0]));

        Report report = HistoryChecker.check(h);

        assertThat(report.ok()).as(report.describe(10)).isTrue();
        assertThat(report.writesAcknowledged()).isEqualTo(3);
        assertThat(report.writesUnfinished()).isZero();
        assertThat(report.readsChecked()).isEqualTo(6);
        assertThat(report.quietReads()).isEqualTo(5);
        assertThat(report.blocks()).isEqualTo(2);
        assertThat(report.summary()).contains("2 blocks", "3 writes acknowledged", "0 violations");
    }

    @Test
    void check_quietReadReturnsOlderWrite_reportsLostWrite() {
        write(0, 7, 1, 0, 1);
        write(1, 7, 2, 2, 3);
        read(0, 7, 4, 5, 1);

        assertOnly(HistoryChecker.check(h), Rule.LOST_WRITE, 7, "write id 1", "write id 2", "node 1");
    }

    @Test
    void check_quietReadReturnsZerosAfterAcknowledgedWrite_reportsLostWrite() {
        write(0, 7, 1, 0, 1);
        read(1, 7, 4, 5, 0);

        assertOnly(HistoryChecker.check(h), Rule.LOST_WRITE, 7, "zeros", "write id 1");
    }

    @Test
    void check_violation_namesOperationsWithTimesFromTheFirstOp() {
        write(0, 7, 1, 0, 1);
        write(1, 7, 2, 2, 3.25);
        read(0, 7, 4, 5, 1);

        assertThat(HistoryChecker.check(h).violations().getFirst().text())
                .isEqualTo("lost acknowledged write (rule 3): block 7: read (node 0, 4.000..5.000 ms) got id 1, "
                        + "the older write id 1 (node 0, 0.000..1.000 ms); expected the newest acknowledged "
                        + "write id 2 (node 1, 2.000..3.250 ms)");
    }

    @Test
    void check_readsFlipBetweenOldAndNewAfterRecovery_reportsFlipFlop() {
        write(0, 2, 1, 0, 1);
        unfinished(1, 2, 2, 2);
        h.killed(1, ms(3));
        h.recovered(1, ms(5));
        read(0, 2, 6, 7, 1);
        read(0, 2, 8, 9, 2);
        read(0, 2, 10, 11, 1);

        assertOnly(HistoryChecker.check(h), Rule.FLIP_FLOP, 2, "ids 1, 2, 1", "5.000 ms");
    }

    @Test
    void check_unfinishedWriteLandedOrNot_bothAccepted() {
        for (long landed : new long[] {1, 2}) {
            History history = new History();
            history.add(new Write(0, 2, 1, ms(0), ms(1), true));
            history.add(new Write(1, 2, 2, ms(2), Long.MAX_VALUE, false));
            history.killed(1, ms(3)).recovered(1, ms(5));
            for (int i = 0; i < 3; i++) {
                history.add(new Read(i % 2, 2, ms(6 + 2 * i), ms(7 + 2 * i), true, filled(landed)));
            }
            history.add(new Write(0, 2, 3, ms(12), ms(13), true));
            history.add(new Read(1, 2, ms(14), ms(15), true, filled(3)));

            Report report = HistoryChecker.check(history);

            assertThat(report.ok()).as("landed: %s; %s", landed == 2, report.describe(10)).isTrue();
            assertThat(report.writesUnfinished()).isEqualTo(1);
        }
    }

    @Test
    void check_unfinishedWriteWithoutRecovery_staysInFlight() {
        write(0, 2, 1, 0, 1);
        unfinished(1, 2, 2, 2);
        h.killed(1, ms(3));
        read(0, 2, 6, 7, 1);
        read(0, 2, 8, 9, 2);
        read(0, 2, 10, 11, 1);

        Report report = HistoryChecker.check(h);

        assertThat(report.ok()).as(report.describe(10)).isTrue();
        assertThat(report.quietReads()).isZero();
    }

    @Test
    void check_recoveryBeforeTheUnfinishedWrite_doesNotEndIt() {
        write(0, 2, 1, 0, 1);
        h.recovered(1, ms(1.5));
        unfinished(1, 2, 2, 2);
        read(0, 2, 6, 7, 1);
        read(0, 2, 8, 9, 2);

        assertThat(HistoryChecker.check(h).ok()).isTrue();
    }

    @Test
    void check_quietReadReturnsUnfinishedWriteOlderThanAcknowledged_reportsLostWrite() {
        unfinished(1, 2, 1, 0);
        h.recovered(1, ms(2));
        write(0, 2, 2, 3, 4);
        read(0, 2, 5, 6, 1);

        assertOnly(HistoryChecker.check(h), Rule.LOST_WRITE, 2, "write id 1", "unacknowledged", "write id 2");
    }

    @Test
    void check_quietReadWithTwoIds_reportsTornRead() {
        write(0, 5, 1, 0, 1);
        write(1, 5, 2, 2, 3);
        read(0, 5, 4, 5, 2, 2, 2, 2, 1, 1, 1, 1);

        assertOnly(HistoryChecker.check(h), Rule.TORN_READ, 5, "[2, 2, 2, 2, 1, 1, 1, 1]");
    }

    @Test
    void check_sectorNeverWritten_reportsUnwrittenBytes() {
        write(0, 9, 1, 0, 1);
        read(1, 9, 4, 5, 1, 1, 1, -1, 1, 1, 1, 1);

        assertOnly(HistoryChecker.check(h), Rule.UNWRITTEN_BYTES, 9, "-1");
    }

    @Test
    void check_sectorNeverWrittenDuringAWrite_reportsUnwrittenBytes() {
        write(0, 9, 1, 0, 10);
        read(1, 9, 4, 5, 1, 1, 1, -1, 0, 0, 0, 0);

        assertOnly(HistoryChecker.check(h), Rule.UNWRITTEN_BYTES, 9, "-1");
    }

    @Test
    void check_readOverlappingWrite_mayReturnEitherValueOrATornMix() {
        write(0, 4, 1, 0, 1);
        write(1, 4, 2, 10, 20);
        read(0, 4, 12, 14, 1);
        read(0, 4, 15, 16, 2);
        read(1, 4, 17, 18, 1, 1, 1, 1, 2, 2, 2, 2);
        read(1, 4, 19, 25, 1);
        read(0, 4, 21, 22, 2);

        Report report = HistoryChecker.check(h);

        assertThat(report.ok()).as(report.describe(10)).isTrue();
        assertThat(report.quietReads()).isEqualTo(1);
    }

    @Test
    void check_overlappingReadOlderThanNewestAcknowledged_reportsStaleRead() {
        write(0, 4, 1, 0, 1);
        write(0, 4, 2, 2, 3);
        write(1, 4, 3, 10, 20);
        read(0, 4, 12, 14, 1);

        assertOnly(HistoryChecker.check(h), Rule.STALE_READ, 4, "write id 1", "write id 2");
    }

    @Test
    void check_readOfIdNeverWritten_reportsValueFromNowhere() {
        write(0, 1, 1, 0, 1);
        read(1, 1, 2, 3, 42);

        assertOnly(HistoryChecker.check(h), Rule.VALUE_FROM_NOWHERE, 1, "id 42");
    }

    @Test
    void check_readOfAnotherBlocksId_reportsForeignId() {
        write(0, 1, 1, 0, 1);
        write(0, 6, 2, 2, 3);
        read(1, 1, 4, 5, 2);

        assertOnly(HistoryChecker.check(h), Rule.FOREIGN_ID, 1, "id 2", "block 6");
    }

    @Test
    void check_readReturnsWriteBegunAfterIt_reportsValueFromFuture() {
        write(0, 1, 1, 0, 1);
        read(1, 1, 2, 3, 2);
        write(0, 1, 2, 4, 5);

        assertOnly(HistoryChecker.check(h), Rule.VALUE_FROM_FUTURE, 1, "write id 2");
    }

    @Test
    void check_writeIdUsedTwice_reportsDuplicate() {
        write(0, 1, 1, 0, 1);
        write(0, 2, 1, 2, 3);

        assertOnly(HistoryChecker.check(h), Rule.DUPLICATE_ID, 2, "write id 1");
    }

    @Test
    void check_acknowledgedWritesOfOneBlockOverlap_reportsConcurrentWrites() {
        write(0, 1, 1, 0, 5);
        write(1, 1, 2, 2, 6);

        assertThat(HistoryChecker.check(h).violations()).extracting(HistoryChecker.Violation::rule)
                .contains(Rule.CONCURRENT_WRITES);
    }

    @Test
    void load_clientAndHarnessLines_parsesEveryOp() throws Exception {
        Path client = dir.resolve("history.jsonl");
        Path harness = dir.resolve("events.jsonl");
        Files.write(client, List.of(
                "{\"op\":\"w\",\"node\":0,\"block\":3,\"id\":1,\"t0\":100,\"t1\":200,\"ok\":true}",
                "{\"op\":\"w\",\"node\":1,\"block\":4,\"id\":2,\"t0\":150,\"t1\":null,\"ok\":false}",
                "",
                "{\"op\":\"r\",\"node\":1,\"block\":3,\"t0\":300,\"t1\":400,\"ok\":true,\"got\":[1,1,1,1,1,1,1,1]}",
                "{\"op\":\"r\",\"node\":1,\"block\":4,\"t0\":160,\"t1\":170,\"ok\":false,\"got\":null}"));
        NodeEvent killed = new NodeEvent(EventKind.KILLED, 1, 155);
        Files.write(harness, List.of(killed.toJson(), "{\"op\":\"recovered\",\"node\":1,\"t\":500}"));

        History loaded = History.load(client, harness);

        assertThat(loaded.writes()).containsExactly(new Write(0, 3, 1, 100, 200, true),
                new Write(1, 4, 2, 150, Long.MAX_VALUE, false));
        assertThat(loaded.reads()).hasSize(2);
        assertThat(loaded.reads().getFirst().got()).containsOnly(1L).hasSize(8);
        assertThat(loaded.reads().get(1).ok()).isFalse();
        assertThat(loaded.events()).containsExactly(killed, new NodeEvent(EventKind.RECOVERED, 1, 500));
        assertThat(HistoryChecker.check(loaded).ok()).isTrue();
    }

    @Test
    void load_unknownOp_namesFileAndLine() throws Exception {
        Path file = dir.resolve("bad.jsonl");
        Files.write(file, List.of("{\"op\":\"killed\",\"node\":0,\"t\":1}", "{\"op\":\"trim\",\"node\":0}"));

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> History.load(file))
                .hasMessageContaining("bad.jsonl:2").hasMessageContaining("unknown op \"trim\"");
    }

    static long[] filled(long id) {
        long[] got = new long[SECTORS];
        Arrays.fill(got, id);
        return got;
    }
}
