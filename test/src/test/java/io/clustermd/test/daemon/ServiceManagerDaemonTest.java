package io.clustermd.test.daemon;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code clustermd run} as systemd's {@code clustermd@.service} starts it: options from
 * {@code --config FILE}, and the service manager's notification protocol on a real unix datagram
 * socket ({@code NOTIFY_SOCKET}, {@code WATCHDOG_USEC}): READY=1 once the export serves, STATUS=
 * lines, WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
 */
class ServiceManagerDaemonTest {

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void stopAll() throws InterruptedException {
        for (Process p : started) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    private List<Path> create(String name) {
        List<Path> paths = MemberFiles.sparse(dir, name + "-", 2, 64L << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--name=" + name));
        paths.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err)))
                .as(err.toString()).isZero();
        return paths;
    }

    private Process start(List<String> args, Path log, String... env) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "run"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        for (int i = 0; i < env.length; i += 2) {
            pb.environment().put(env[i], env[i + 1]);
        }
        Process p = pb.start();
        started.add(p);
        return p;
    }

    @Test
    void startedAsNotifyService_sendsReadyStatusWatchdogAndStopping() throws Exception {
        List<Path> members = create("svc");
        Path runDir = dir.resolve("run");
        Path conf = dir.resolve("svc.conf");
        Files.writeString(conf, """
                # what /etc/clustermd/svc.conf holds
                member = %s
                member = %s
                run-dir = %s
                io-threads = 4
                """.formatted(members.get(0), members.get(1), runDir));
        Path socket = dir.resolve("notify.sock");
        Path received = dir.resolve("notify.log");
        Process receiver = new ProcessBuilder("/usr/bin/python3",
                Daemon.ROOT.resolve("test/src/test/resources/notify_receiver.py").toString(), socket.toString(),
                received.toString()).redirectErrorStream(true).start();
        started.add(receiver);
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(socket));

        Process daemon = start(List.of("--config", conf.toString(), "--name", "svc"), dir.resolve("daemon.log"),
                "NOTIFY_SOCKET", socket.toString(), "WATCHDOG_USEC", "1500000");
        await().atMost(Duration.ofSeconds(60)).until(() -> lines(received).stream().anyMatch(l -> l.startsWith("READY=1")));
        // READY only once the export serves: the NBD socket answers at that moment.
        assertThat(runDir.resolve("svc.nbd")).exists();
        Processes.Result info = Processes.run(List.of("nbdinfo", "--size", "nbd+unix:///svc?socket=" + runDir.resolve("svc.nbd")));
        assertThat(info.exitCode()).as(info.stderr()).isZero();
        assertThat(lines(received)).anySatisfy(l -> assertThat(l)
                .matches("READY=1\\|STATUS=svc: active \\[2/2\\] \\[UU\\].*\\|MAINPID=" + daemon.pid()));
        // pings at a third of the watchdog timeout: several within 2 s
        long before = lines(received).stream().filter(l -> l.equals("WATCHDOG=1")).count();
        Thread.sleep(2000);
        assertThat(lines(received).stream().filter(l -> l.equals("WATCHDOG=1")).count()).isGreaterThanOrEqualTo(before + 3);
        // the resync of the new array ends: the status line says so within its 5 s period
        await().atMost(Duration.ofSeconds(30)).until(() -> lines(received).contains("STATUS=svc: active [2/2] [UU]"));

        daemon.destroy();   // SIGTERM, as systemctl stop
        assertThat(daemon.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(daemon.exitValue()).as(Files.readString(dir.resolve("daemon.log"))).isZero();
        assertThat(lines(received)).anyMatch(l -> l.startsWith("STOPPING=1|STATUS=stopping"));
    }

    @Test
    void configFile_commandLineWins_andRepeatedKeysAdd() throws Exception {
        List<Path> members = create("cfg");
        Path runDir = dir.resolve("run");
        Path conf = dir.resolve("cfg.conf");
        Files.writeString(conf, """
                member = %s
                member = %s
                run-dir = %s
                nbd = unix:%s
                nbd = unix:%s
                """.formatted(members.get(0), members.get(1), runDir, runDir.resolve("from-file-1.nbd"),
                runDir.resolve("from-file-2.nbd")));
        start(List.of("--config", conf.toString()), dir.resolve("a.log"));
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(runDir.resolve("cfg.ctl")));
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(runDir.resolve("from-file-2.nbd")));
        assertThat(runDir.resolve("from-file-1.nbd")).exists();
        stop(runDir, "cfg");

        start(List.of("--config", conf.toString(), "--nbd", "unix:" + runDir.resolve("from-cli.nbd")), dir.resolve("b.log"));
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(runDir.resolve("cfg.ctl")));
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(runDir.resolve("from-cli.nbd")));
        assertThat(runDir.resolve("from-file-1.nbd")).doesNotExist();
        stop(runDir, "cfg");
    }

    private void stop(Path runDir, String name) {
        Processes.Result r = Processes.run(List.of(Daemon.ROOT.resolve("bin/clusterctl").toString(), "stop",
                "--run-dir", runDir.toString(), "--name", name));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        await().atMost(Duration.ofSeconds(30)).until(() -> !Files.exists(runDir.resolve(name + ".ctl")));
    }

    @Test
    void badConfigFile_isRefusedWithFileAndLine_andNothingIsWritten() throws Exception {
        List<Path> members = create("bad");
        String before = digest(members);
        Path conf = dir.resolve("bad.conf");
        for (String[] c : new String[][] {
                {"io-thread = 4", "bad.conf:3: unknown key 'io-thread'; valid keys: buffered, "},
                {"io-threads = many", "bad.conf:3: io-threads = many: Invalid value for option '--io-threads'"},
                {"transport = FAST", "expected one of [AUTO, EPOLL, IO_URING, NIO]"},
                {"buffered = maybe", "bad.conf:3: 'buffered' is true or false, got 'maybe'"},
                {"lock", "bad.conf:3: expected 'key = value', got 'lock'"},
                {"name = a\nname = b", "bad.conf:4: 'name' is given twice"}}) {
            Files.writeString(conf, "member = %s\nmember = %s\n%s\n".formatted(members.get(0), members.get(1), c[0]));
            Process p = start(List.of("--config", conf.toString(), "--run-dir", dir.resolve("run").toString()),
                    dir.resolve("bad.log"));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            String out = Files.readString(dir.resolve("bad.log"));
            assertThat(p.exitValue()).as(out).isEqualTo(2);
            assertThat(out).as(c[0]).contains(c[1]);
        }
        Process p = start(List.of("--config", dir.resolve("missing.conf").toString()), dir.resolve("missing.log"));
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("missing.log"))).contains("missing.conf: no such file");
        assertThat(digest(members)).as("members untouched").isEqualTo(before);
    }

    @Test
    void logFormatJson_fromTheConfigFile_givesOneJsonObjectPerLine_withTheArrayName() throws Exception {
        List<Path> members = create("js");
        Path runDir = dir.resolve("run");
        Path conf = dir.resolve("js.conf");
        Files.writeString(conf, "member = %s\nmember = %s\nrun-dir = %s\nlog-format = json\n"
                .formatted(members.get(0), members.get(1), runDir));
        Path log = dir.resolve("js.log");
        Process p = start(List.of("--config", conf.toString()), log);
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(runDir.resolve("js.ctl")));
        stop(runDir, "js");
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<String> out = Files.readAllLines(log);
        assertThat(out).isNotEmpty();
        List<String> messages = new ArrayList<>();
        for (String line : out) {
            com.fasterxml.jackson.databind.JsonNode n = json.readTree(line);   // every line is one JSON object
            assertThat(n.path("level").asText()).as(line).isIn("INFO", "WARN", "ERROR");
            assertThat(n.path("context").path("properties").path("array").asText()).as(line).isEqualTo("js");
            assertThat(n.path("timestamp").asLong()).isPositive();
            messages.add(n.path("formattedMessage").asText());
        }
        assertThat(messages).anyMatch(m -> m.startsWith("array js (") && m.contains("running"));
        assertThat(messages).contains("stopped cleanly");

        // the command line wins over the file: text lines again, not one of them JSON
        Path textLog = dir.resolve("text.log");
        Process text = start(List.of("--config", conf.toString(), "--log-format", "text"), textLog);
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(runDir.resolve("js.ctl")));
        stop(runDir, "js");
        assertThat(text.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(Files.readAllLines(textLog)).isNotEmpty().noneMatch(l -> l.startsWith("{"))
                .anyMatch(l -> l.contains("[js]") && l.contains("stopped cleanly"));

        Process bad = start(List.of("--log-format", "xml", members.get(0).toString()), dir.resolve("bad.log"));
        assertThat(bad.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(bad.exitValue()).isEqualTo(2);
        assertThat(Files.readString(dir.resolve("bad.log"))).contains("--log-format is text or json, got 'xml'");
    }

    private static List<String> lines(Path file) throws IOException {
        return Files.exists(file) ? Files.readAllLines(file) : List.of();
    }

    private static String digest(List<Path> files) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Path f : files) {
            md.update(Files.readAllBytes(f));
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
