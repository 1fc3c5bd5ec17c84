package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.test.Processes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/** A real {@code clustermd run} process, started through bin/clustermd as a user would. */
final class Daemon implements AutoCloseable {

    static final Path ROOT = Path.of(System.getProperty("clustermd.root", "..")).toAbsolutePath().normalize();

    final String name;
    final Path runDir;
    final Path faultDir;
    final Path log;
    private final Process process;

    private Daemon(String name, Path runDir, Path faultDir, Path log, Process process) {
        this.name = name;
        this.runDir = runDir;
        this.faultDir = faultDir;
        this.log = log;
        this.process = process;
    }

    /** Starts the daemon on {@code members} and waits until its control socket answers. */
    static Daemon start(Path dir, String name, List<Path> members, String... extra) throws IOException {
        Path runDir = Files.createDirectories(dir.resolve("run"));
        Path faultDir = Files.createDirectories(dir.resolve("faults"));
        Path log = dir.resolve("daemon-" + System.nanoTime() + ".log");
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/clustermd").toString(), "run",
                "--name", name, "--run-dir", runDir.toString(), "--fault-dir", faultDir.toString()));
        cmd.addAll(List.of(extra));
        members.forEach(m -> cmd.add(m.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Daemon d = new Daemon(name, runDir, faultDir, log, p);
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError("daemon exited with " + p.exitValue() + ":\n" + d.logText());
            }
            return Files.exists(runDir.resolve(name + ".nbd")) && d.ctlHere("status").exitCode() == 0;
        });
        return d;
    }

    String nbdUri() {
        return "nbd+unix:///?socket=" + runDir.resolve(name + ".nbd");
    }

    Processes.Result ctl(String... args) {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/clusterctl").toString()));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--run-dir", runDir.toString(), "--name", name));
        return Processes.run(cmd);
    }

    /**
     * {@code clusterctl ARGS} run in this JVM (the same command line code, without a JVM start per
     * call): for the status polls of waits, which would otherwise keep a core busy starting JVMs.
     * {@link #ctl} runs the real launcher, for the commands a test is about.
     */
    Processes.Result ctlHere(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--run-dir", runDir.toString(), "--name", name));
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int rc = io.clustermd.cmd.ClusterCtl.run(all.toArray(String[]::new), new java.io.PrintWriter(out),
                new java.io.PrintWriter(err));
        return new Processes.Result(rc, out.toString(), err.toString());
    }

    JsonNode status() throws IOException {
        Processes.Result r = ctlHere("status", "--json");
        if (r.exitCode() != 0) {
            throw new AssertionError("clusterctl status failed: " + r.stderr());
        }
        JsonNode n = new ObjectMapper().readTree(r.stdout());
        return n.has("status") ? n.get("status") : n;
    }

    /** Waits until no sync action runs and no member is being rebuilt. */
    void awaitIdle() {
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(300)).until(() -> {
            JsonNode s = status();
            boolean rebuilding = false;
            for (JsonNode m : s.get("members")) {
                rebuilding |= m.get("state").asText().equals("rebuilding");
            }
            return s.get("sync").get("action").asText().equals("idle") && !rebuilding;
        });
    }

    /** Runs a check to the end and returns mismatch_cnt. */
    long check() throws IOException {
        awaitIdle();
        Processes.Result r = ctl("check");
        if (r.exitCode() != 0) {
            throw new AssertionError("clusterctl check failed: " + r.stderr());
        }
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(300))
                .until(() -> logText().contains("check done, mismatch_cnt") && isIdle());
        return status().get("mismatchCount").asLong();
    }

    private boolean isIdle() throws IOException {
        return status().get("sync").get("action").asText().equals("idle");
    }

    /** Switches fault injection for a member (see FaultSwitchboard): healthy, fail-writes, gone, ... */
    void fault(Path member, String spec) throws IOException {
        Files.writeString(faultDir.resolve(member.getFileName().toString()), spec);
    }

    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM; returns the exit code. */
    int terminate() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("daemon did not stop within 60 s of SIGTERM:\n" + logText());
        }
        return process.exitValue();
    }

    /** Waits for the daemon to exit by itself; its exit code, or -1 if it still runs after {@code seconds}. */
    int waitFor(int seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }

    boolean alive() {
        return process.isAlive();
    }

    /** The daemon's JVM (the launcher execs it, so it is the process started here). */
    long pid() {
        return process.pid();
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    static Processes.Result python(String script, List<String> args, String stdin) {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/python3", ROOT.resolve(
                "test/src/test/resources/" + script).toString()));
        cmd.addAll(args);
        return Processes.runWithInput(cmd, stdin);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** The first {@code length} bytes of a member's data area, read from the file (not through the daemon). */
    static byte[] dataArea(Path member, long length) throws Exception {
        long offset = MemberMetadataReader.read(member).superblock().dataOffset() * 512;
        try (FileChannel ch = FileChannel.open(member, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(length));
            while (b.hasRemaining() && ch.read(b, offset + b.position()) > 0) {
                // a regular file returns short reads only at its end
            }
            return b.array();
        }
    }

    static Map<String, String> env() {
        return Map.of();
    }
}
