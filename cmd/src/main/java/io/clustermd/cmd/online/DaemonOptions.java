package io.clustermd.cmd.online;

import io.clustermd.control.ControlSockets;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Which daemon an online command talks to: {@code --control PATH}; or {@code --name NAME}, which means
 * {@code RUN_DIR/NAME.ctl} with RUN_DIR {@code /run/clustermd} or {@code --run-dir}; or, with neither,
 * the only {@code *.ctl} in RUN_DIR.
 */
public final class DaemonOptions {

    @Option(names = "--control", paramLabel = "PATH", description = "the daemon's control socket")
    Path control;

    @Option(names = {"-N", "--name"}, paramLabel = "NAME",
            description = "the array's name: its daemon's socket is RUN_DIR/NAME.ctl")
    String name;

    @Option(names = "--run-dir", paramLabel = "DIR", description = "where daemons put their sockets (default: /run/clustermd)")
    Path runDir;

    /** The control socket to use; {@link OnlineFailure} when there is none or several to choose from. */
    public Path socket() {
        if (control != null) {
            if (name != null || runDir != null) {
                throw new UsageFailure("--control names the socket itself; leave out --name and --run-dir");
            }
            return control.toAbsolutePath();
        }
        Path dir = runDir == null ? ControlSockets.DEFAULT_RUN_DIR : runDir.toAbsolutePath();
        if (name != null) {
            try {
                return ControlSockets.socketFor(dir, name);
            } catch (IllegalArgumentException e) {
                throw new UsageFailure(e.getMessage());
            }
        }
        List<Path> found;
        try (Stream<Path> files = Files.list(dir)) {
            found = files.filter(p -> p.getFileName().toString().endsWith(ControlSockets.SUFFIX)).sorted().toList();
        } catch (IOException e) {
            found = List.of();
        }
        if (found.isEmpty()) {
            throw new OnlineFailure("no clustermd daemon is running (no control socket in " + dir
                    + "); start one with 'clustermd run ...', or name its socket with --control PATH");
        }
        if (found.size() > 1) {
            throw new UsageFailure("several arrays are running (" + String.join(", ",
                    found.stream().map(ControlSockets::nameOf).toList()) + "); choose one with --name NAME");
        }
        return found.get(0);
    }

    /** The wrong or missing arguments kind of failure: exit code 2. */
    public static final class UsageFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public UsageFailure(String message) {
            super(message);
        }
    }
}
