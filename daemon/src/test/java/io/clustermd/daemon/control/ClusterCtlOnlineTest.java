package io.clustermd.daemon.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.control.ArrayControl;
import io.clustermd.control.InMemoryArrayControl;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * clusterctl's online commands against the real control server and an in-memory array: the text
 * users see (mdstat, --detail, mdadm's sentences), --json, --watch, exit codes and one-line errors.
 */
@Timeout(60)
class ClusterCtlOnlineTest {

    @TempDir
    Path dir;

    private InMemoryArrayControl array;
    private ControlServer server;
    private String sock;

    record Result(int rc, String out, String err) {
    }

    @BeforeEach
    void start() throws Exception {
        array = InMemoryArrayControl.raid1("m1", 64512, "/srv/a.img", "/srv/b.img");
        server = ControlServer.start(dir.resolve("m1.ctl"), array);
        sock = server.socket().toString();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Result(rc, out.toString(), err.toString());
    }

    private Result ctl(String... args) {
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of("--control", sock));
        return run(a.toArray(String[]::new));
    }

    @Test
    void status_healthy_isMdstat() {
        Result r = ctl("status");
        assertThat(r.rc()).isZero();
        assertThat(r.err()).isEmpty();
        assertThat(r.out()).isEqualTo("""
                Personalities : [raid1] [raid10]\s
                md-m1 : active raid1 a.img[0] b.img[1]
                      64512 blocks super 1.2 [2/2] [UU]
                      bitmap: 1/1 pages [4KB], 65536KB chunk

                unused devices: <none>
                """);
    }

    @Test
    void daemonFoundByName_andAsTheOnlySocketInTheRunDir() {
        assertThat(run("status", "--name", "m1", "--run-dir", dir.toString()).out()).contains("md-m1 : active raid1");
        assertThat(run("status", "--run-dir", dir.toString()).out()).contains("md-m1 : active raid1");
    }

    @Test
    void arrayAsArgument_nameOrDevPath_asMdadmTakesIt() {
        assertThat(run("detail", "m1", "--run-dir", dir.toString()).out()).startsWith("md-m1:");
        assertThat(run("status", "/dev/m1", "--run-dir", dir.toString()).out()).contains("md-m1 : active raid1");
        assertThat(run("check", "m1", "--run-dir", dir.toString()).rc()).isZero();
        Result twice = run("status", "m2", "--name", "m1", "--run-dir", dir.toString());
        assertThat(twice.rc()).isEqualTo(2);
        assertThat(twice.err()).contains("the array is given twice, as 'm2' and as --name m1; give it once");
        Result path = run("detail", "/srv/m1", "--run-dir", dir.toString());
        assertThat(path.rc()).isEqualTo(2);
        assertThat(path.err()).contains("ARRAY is an array's name (md0) or /dev/NAME, got '/srv/m1'");
        Result none = run("status", "m9", "--run-dir", dir.toString());
        assertThat(none.rc()).isEqualTo(1);
    }

    @Test
    void addSpare_isAdd() {
        Result r = ctl("add-spare", "/srv/d.img");
        assertThat(r.rc()).as(r.err()).isZero();
        assertThat(r.err()).isEqualTo("clusterctl: added /srv/d.img\n");
    }

    @Test
    void grow_raidDevices_addsTheMemberFirst_thenSaysSo() {
        Result g = ctl("grow", "--raid-devices=3", "--add", "/srv/c.img");
        assertThat(g.rc()).as(g.err()).isZero();
        assertThat(g.err()).isEqualTo("clusterctl: added /srv/c.img\nclusterctl: raid_disks for md-m1 set to 3\n");
        assertThat(ctl("status").out()).contains("[3/");
        Result shrink = ctl("grow", "--raid-devices=1");
        assertThat(shrink.rc()).isEqualTo(1);
        assertThat(shrink.err()).startsWith("clusterctl: cannot shrink to 1 raid devices: ");
        Result bad = ctl("grow", "--raid-devices=0");
        assertThat(bad.rc()).isEqualTo(2);
        assertThat(bad.err()).contains("--raid-devices must be at least 1");
    }

    @Test
    void fail_degradesTheArray_thenRemove_reAdd_recoverByBitmap() {
        Result f = ctl("fail", "/srv/b.img");
        assertThat(f.rc()).isZero();
        assertThat(f.out()).isEmpty();
        assertThat(f.err()).isEqualTo("clusterctl: set /srv/b.img faulty in md-m1\n");
        assertThat(ctl("status").out()).contains("md-m1 : active raid1 a.img[0] b.img[1](F)",
                "      64512 blocks super 1.2 [2/1] [U_]");
        Result detail = ctl("detail");
        assertThat(detail.out()).contains("             State : clean, degraded \n",
                "       -       0        0        1      removed\n\n       1       -        -        -      faulty   /srv/b.img\n");

        assertThat(ctl("remove", "/srv/b.img").err()).isEqualTo("clusterctl: hot removed /srv/b.img from md-m1\n");
        assertThat(ctl("re-add", "/srv/b.img").err()).isEqualTo("clusterctl: re-added /srv/b.img\n");
        array.progress(32768, 16384);
        assertThat(ctl("status").out()).contains("md-m1 : active raid1 a.img[0] b.img[1]",
                "      [==========>..........]  recovery = 50.0% (16384/32256) finish=0.0min speed=16384K/sec",
                "[2/1] [U_]");
        assertThat(ctl("detail").out()).contains("             State : clean, degraded, recovering ",
                "    Rebuild Status : 50% complete",
                "       1       -        -        1      spare rebuilding   /srv/b.img");
        array.progress(32768, 16384);
        assertThat(ctl("status").out()).contains("[2/2] [UU]").doesNotContain("recovery");
    }

    @Test
    void relativeMemberPaths_areSentAbsolute() {
        Result r = ctl("fail", "b.img");
        assertThat(r.rc()).isEqualTo(1);
        String abs = Path.of("b.img").toAbsolutePath().toString();
        assertThat(r.err()).isEqualTo("clusterctl: " + abs + " is not a member of m1 (members: /srv/a.img, /srv/b.img)\n");
    }

    @Test
    void refusals_areOneLineOnStderr_exit1() {
        Result r = ctl("remove", "/srv/a.img");
        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).isEqualTo("clusterctl: cannot remove /srv/a.img: it is an active member of m1; fail it first"
                + " with 'clusterctl fail /srv/a.img'\n");
        assertThat(ctl("fail", "/srv/a.img").rc()).isZero();
        Result last = ctl("fail", "/srv/b.img");
        assertThat(last.rc()).isEqualTo(1);
        assertThat(last.err()).startsWith("clusterctl: cannot fail /srv/b.img: it is the last in-sync member of m1")
                .hasLineCount(1);
    }

    @Test
    void add_startsRecovery_whichWatchFollowsToTheEnd() {
        ctl("fail", "/srv/b.img");
        ctl("remove", "/srv/b.img");
        Result add = ctl("add", "/srv/c.img");
        assertThat(add.err()).isEqualTo("clusterctl: added /srv/c.img\n");
        array.autoProgress(40000, 20000);
        Result w = ctl("status", "--watch", "0.01");
        assertThat(w.rc()).isZero();
        List<String> frames = List.of(w.out().split("\n\n(?=Personalities)"));
        assertThat(frames).hasSize(5); // 0, 40000, 80000, 120000 of 129024 sectors, then done
        assertThat(frames.get(0)).contains("[>....................]  recovery =  0.0% (0/64512)");
        assertThat(frames.get(2)).contains("recovery = 61.4% (40000/64512)", "speed=20000K/sec");
        assertThat(frames.get(4)).contains("[2/2] [UU]").doesNotContain("recovery");
    }

    @Test
    void watch_onAnIdleArray_printsOnceAndExits0() {
        Result w = ctl("status", "--watch");
        assertThat(w.rc()).isZero();
        assertThat(w.out()).containsOnlyOnce("Personalities");
        assertThat(array.statusCalls()).isEqualTo(1);
    }

    @Test
    void watch_whenTheDaemonGoesAway_failsWithOneLine() throws Exception {
        array.startResync(0, 1).autoProgress(1, 1);
        ExecutorService ex = Executors.newSingleThreadExecutor();
        try {
            Future<Result> w = ex.submit(() -> ctl("status", "--watch", "0.05"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (array.statusCalls() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(10); // until the watch has drawn at least one frame over its connection
            }
            assertThat(array.statusCalls()).isGreaterThanOrEqualTo(2);
            server.close();
            Result r = w.get(10, TimeUnit.SECONDS);
            assertThat(r.rc()).isEqualTo(1);
            assertThat(r.err()).matches("clusterctl: (the clustermd daemon for array m1 closed the connection without"
                    + " answering status|lost the connection to the clustermd daemon for array m1).*\n").hasLineCount(1);
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void check_thenWatch_showsMismatches() {
        array.mismatchesToFind(128);
        Result c = ctl("check");
        assertThat(c.rc()).isZero();
        assertThat(c.err()).isEqualTo("clusterctl: check started on md-m1; follow it with 'clusterctl wait' or 'clusterctl status --watch'\n");
        array.progress(64512, 30000);
        assertThat(ctl("status").out()).contains(
                "      [=========>...........]  check = 49.6% (32256/64512) finish=0.0min speed=30000K/sec\n"
                        + "      mismatch_cnt: 64\n"
                        + "      bitmap: 1/1 pages [4KB], 65536KB chunk\n");
        assertThat(ctl("detail").out()).contains("             State : clean, checking ", "      Check Status : 49% complete",
                "    Mismatch Count : 64");
        Result again = ctl("repair");
        assertThat(again.rc()).isEqualTo(1);
        assertThat(again.err()).isEqualTo("clusterctl: cannot start repair on m1: check is running; wait for it"
                + " ('clusterctl status --watch')\n");
        array.progress(64512, 30000);
        assertThat(ctl("status").out()).contains("      mismatch_cnt: 128\n").doesNotContain("check =");
        assertThat(ctl("repair").rc()).isZero();
        assertThat(ctl("status").out()).contains("  resync =  0.0% (0/64512)");
    }

    @Test
    void resync_showsActiveResyncingInDetail() {
        array.startResync(114048, 57024);
        assertThat(ctl("status").out())
                .contains("      [=================>...]  resync = 87.4% (57024/64512) finish=0.0min speed=57024K/sec\n");
        assertThat(ctl("detail").out()).contains("             State : active, resyncing ", "     Resync Status : 87% complete");
    }

    @Test
    void json_everywhere() throws Exception {
        ObjectMapper m = new ObjectMapper();
        JsonNode st = m.readTree(ctl("status", "--json").out());
        assertThat(st.get("name").asText()).isEqualTo("m1");
        assertThat(st.get("members").get(0).get("state").asText()).isEqualTo("in_sync");
        assertThat(st.get("sync").get("action").asText()).isEqualTo("idle");
        JsonNode detail = m.readTree(ctl("detail", "--json").out());
        assertThat(detail).isEqualTo(st);
        assertThat(m.readTree(ctl("check", "--json").out()).get("sync").get("action").asText()).isEqualTo("check");
        array.progress(Long.MAX_VALUE / 4, 1);
        Result f = ctl("fail", "/srv/b.img", "--json");
        assertThat(f.err()).isEmpty();
        assertThat(m.readTree(f.out()).get("state").toString()).isEqualTo("[\"clean\",\"degraded\"]");
        Result bad = ctl("remove", "/srv/a.img", "--json");
        assertThat(bad.rc()).isEqualTo(1);
        assertThat(bad.err()).startsWith("clusterctl: cannot remove /srv/a.img");
        array.autoProgress(Long.MAX_VALUE / 4, 1);
        Result w = ctl("status", "--watch", "0.01", "--json");
        assertThat(w.out().lines()).allSatisfy(l -> assertThat(m.readTree(l).get("name").asText()).isEqualTo("m1"));
        assertThat(m.readTree(ctl("stop", "--json").out()).get("ok").asBoolean()).isTrue();
    }

    @Test
    void stop_stopsTheArray() {
        Result r = ctl("stop");
        assertThat(r.rc()).isZero();
        assertThat(r.err()).isEqualTo("clusterctl: stopped md-m1\n");
        assertThat(array.stopped()).isTrue();
        assertThat(ctl("check").err()).isEqualTo("clusterctl: array m1 is stopped\n");
    }

    @Test
    void afterTheDaemonExits_clusterctlSaysSo() {
        server.close();
        Result r = ctl("status");
        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("clusterctl: no clustermd daemon for array m1 (no control socket at " + sock
                + "); start it with 'clustermd run ...'\n");
    }

    @Test
    void aDaemonThatDoesNotAnswer_isReportedAfterTheTimeout() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        ArrayControl blocked = new ControlServerTest.Delegating(array) {
            @Override
            public void fail(String member) {
                try {
                    release.await(); // e.g. a member that hangs the superblock write
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        ControlServer other = ControlServer.start(dir.resolve("slow.ctl"), blocked);
        try {
            long t0 = System.nanoTime();
            Result r = run("fail", "/srv/b.img", "--timeout", "0.3", "--control", other.socket().toString());
            assertThat(r.rc()).isEqualTo(1);
            assertThat(r.err()).isEqualTo("clusterctl: the clustermd daemon for array slow did not answer fail within"
                    + " 0.3 s (it may be blocked; see its log, or wait longer with --timeout)\n");
            assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(10));
            assertThat(run("status", "--timeout", "5", "--control", other.socket().toString()).rc()).isZero();
            assertThat(run("status", "--timeout", "-1", "--control", other.socket().toString()).rc()).isEqualTo(2);
        } finally {
            release.countDown(); // first, so close() need not wait for the blocked request
            other.close();
        }
    }

    @Test
    void manyClusterctlsAtOnce() throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(8);
        try {
            List<Future<Result>> rs = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                rs.add(ex.submit(() -> ctl("detail")));
            }
            for (Future<Result> f : rs) {
                Result r = f.get(20, TimeUnit.SECONDS);
                assertThat(r.rc()).isZero();
                assertThat(r.out()).contains("    Active Devices : 2");
            }
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void help_listsTheOnlineCommands() {
        Result r = run("--help");
        assertThat(r.out()).contains("status", "detail", "fail", "remove", "add", "re-add", "grow", "check", "repair", "stop");
    }
}
