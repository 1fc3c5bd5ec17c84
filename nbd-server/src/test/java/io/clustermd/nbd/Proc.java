package io.clustermd.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a real client program to completion (test helper); kills it on timeout. */
final class Proc {
    private Proc() {}

    record Result(int exit, String output) {}

    /** Extra environment for the next run on this thread. */
    static final ThreadLocal<java.util.Map<String, String>> ENV = ThreadLocal.withInitial(java.util.HashMap::new);

    /** Fails the test (does not skip it) when a client program is missing: CI must install it. */
    static void require(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return;
            }
        }
        throw new AssertionError(program + " is not installed; scripts/packages lists the Debian package (run scripts/test)");
    }

    static Result run(Duration timeout, String... cmd) throws IOException, InterruptedException {
        require(cmd[0]);
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true);
        // Debian's client tools (nbdsh needs python3-libnbd) live in /usr/bin: prefer them over
        // any other python3 on PATH.
        pb.environment().put("PATH", "/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", ""));
        pb.environment().putAll(ENV.get());
        Process p = pb.start();
        p.getOutputStream().close();
        StringBuilder out = new StringBuilder();
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            try {
                out.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException ignored) {
                // process killed
            }
        });
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor();
            reader.join(5000);
            throw new AssertionError(String.join(" ", cmd) + " did not finish within " + timeout + "; output:\n" + out);
        }
        reader.join(10_000);
        return new Result(p.exitValue(), out.toString());
    }

    /** Runs and asserts exit status 0; returns the output. */
    static String ok(Duration timeout, String... cmd) throws IOException, InterruptedException {
        Result r = run(timeout, cmd);
        assertThat(r.exit()).as("exit status of %s; output:%n%s", String.join(" ", cmd), r.output()).isZero();
        return r.output();
    }
}
