package io.clustermd.test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs external programs (mdadm, losetup, the launchers) and captures their output. */
public final class Processes {

    private Processes() {
    }

    /** Outcome of one program run. */
    public record Result(int exitCode, String stdout, String stderr) {
        public List<String> lines() {
            return stdout.lines().toList();
        }
    }

    public static Result run(List<String> command) {
        return run(command, null, Map.of());
    }

    public static Result run(List<String> command, Path cwd, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(command);
        if (cwd != null) {
            pb.directory(cwd.toFile());
        }
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            var out = p.getInputStream();
            var err = p.getErrorStream();
            var errText = new java.util.concurrent.CompletableFuture<String>();
            Thread t = Thread.ofVirtual().start(() -> {
                try {
                    errText.complete(new String(err.readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    errText.complete("");
                }
            });
            String stdout = new String(out.readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + command);
            }
            t.join();
            return new Result(p.exitValue(), stdout, errText.join());
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + command + ": " + e.getMessage()
                    + " (scripts/test installs the packages the tests need)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Runs with {@code stdin} fed to the program. */
    public static Result runWithInput(List<String> command, String stdin) {
        try {
            Process p = new ProcessBuilder(command).start();
            var errText = new java.util.concurrent.CompletableFuture<String>();
            Thread.ofVirtual().start(() -> {
                try {
                    errText.complete(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                    errText.complete("");
                }
            });
            Thread.ofVirtual().start(() -> {
                try (var in = p.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    // the program exited early; its output says why
                }
            });
            String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("timed out: " + command);
            }
            return new Result(p.exitValue(), stdout, errText.join());
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Runs and requires exit code 0. */
    public static Result check(List<String> command) {
        Result r = run(command);
        if (r.exitCode() != 0) {
            throw new AssertionError(command + " exited " + r.exitCode() + ": " + r.stderr() + r.stdout());
        }
        return r;
    }

    /** A read-only loop device over a file, detached on close (mdadm -X reads bitmaps only from block devices). */
    public static final class LoopDevice implements AutoCloseable {
        private final String device;

        public LoopDevice(Path file) {
            this.device = check(List.of("losetup", "-r", "-f", "--show", file.toString())).stdout().strip();
        }

        public String device() {
            return device;
        }

        @Override
        public void close() {
            run(List.of("losetup", "-d", device));
        }
    }
}
