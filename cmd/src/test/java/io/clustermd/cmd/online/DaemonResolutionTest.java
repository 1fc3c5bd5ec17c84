package io.clustermd.cmd.online;

import io.clustermd.cmd.ClusterCtl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which daemon clusterctl reaches, and what it says when there is none: the socket path rules and the
 * "no daemon" messages, without any daemon running.
 */
class DaemonResolutionTest {

    @TempDir
    Path dir;

    record Result(int rc, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Result(rc, out.toString(), err.toString());
    }

    private static DaemonOptions options(Path control, String name, Path runDir) {
        DaemonOptions o = new DaemonOptions();
        o.control = control;
        o.name = name;
        o.runDir = runDir;
        return o;
    }

    @Test
    void controlPath_nameInRunDir_andTheOnlySocket() throws Exception {
        assertThat(options(dir.resolve("x.ctl"), null, null).socket()).isEqualTo(dir.resolve("x.ctl"));
        assertThat(options(null, "md0", null).socket()).isEqualTo(Path.of("/run/clustermd/md0.ctl"));
        assertThat(options(null, "md0", dir).socket()).isEqualTo(dir.resolve("md0.ctl"));
        Files.createFile(dir.resolve("data.ctl"));
        Files.createFile(dir.resolve("data.nbd"));
        assertThat(options(null, null, dir).socket()).isEqualTo(dir.resolve("data.ctl"));
    }

    @Test
    void noDaemonAtAll_saysHowToStartOne() {
        Result r = run("status", "--name", "md0", "--run-dir", dir.toString());
        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).isEqualTo("clusterctl: no clustermd daemon for array md0 (no control socket at "
                + dir.resolve("md0.ctl") + "); start it with 'clustermd run ...'\n");
    }

    @Test
    void emptyRunDir_andSeveralDaemons() throws Exception {
        Result none = run("detail", "--run-dir", dir.toString());
        assertThat(none.rc()).isEqualTo(1);
        assertThat(none.err()).startsWith("clusterctl: no clustermd daemon is running (no control socket in " + dir);
        Files.createFile(dir.resolve("a.ctl"));
        Files.createFile(dir.resolve("b.ctl"));
        Result several = run("check", "--run-dir", dir.toString());
        assertThat(several.rc()).isEqualTo(2);
        assertThat(several.err()).startsWith("clusterctl: several arrays are running (a, b); choose one with --name NAME\n");
    }

    @Test
    void staleSocketLeftByADeadDaemon_isReportedAsNoDaemon() throws Exception {
        Path sock = dir.resolve("md1.ctl");
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ch.bind(UnixDomainSocketAddress.of(sock));
        ch.close(); // the file stays, nothing listens: what kill -9 leaves behind
        assertThat(sock).exists();
        Result r = run("fail", "/srv/a.img", "--control", sock.toString());
        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("clusterctl: no clustermd daemon for array md1 (nothing answers on control socket "
                + sock + "); start it with 'clustermd run ...'\n");
    }

    @Test
    void usageErrors_exit2() {
        assertThat(run("fail").rc()).isEqualTo(2);
        assertThat(run("status", "--control", "/x.ctl", "--name", "md0").err())
                .contains("--control names the socket itself");
        assertThat(run("status", "--control", "/x.ctl", "--name", "md0").rc()).isEqualTo(2);
        assertThat(run("status", "--name", "../x").rc()).isEqualTo(2);
        Result w = run("status", "--watch", "0", "--control", dir.resolve("x.ctl").toString());
        assertThat(w.rc()).isEqualTo(2);
        assertThat(w.err()).contains("--watch SECONDS must be more than 0");
    }
}
