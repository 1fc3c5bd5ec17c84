package io.clustermd.control;

import java.nio.file.Path;

/**
 * Where a daemon's control socket lives: {@code RUN_DIR/NAME.ctl}, next to the NBD socket
 * {@code RUN_DIR/NAME.nbd}, as md's arrays live under {@code /dev/md/NAME}.
 */
public final class ControlSockets {

    /** The default run directory, {@code /run/clustermd}. */
    public static final Path DEFAULT_RUN_DIR = Path.of("/run/clustermd");

    /** The control socket's suffix. */
    public static final String SUFFIX = ".ctl";

    private ControlSockets() {
    }

    /** {@code runDir/name.ctl}; the name must be a plain file name. */
    public static Path socketFor(Path runDir, String name) {
        if (name == null || name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("array name '" + name + "' cannot name a control socket"
                    + " (expected a plain name such as md0)");
        }
        return runDir.resolve(name + SUFFIX);
    }

    /** The array name a control socket path stands for: {@code /run/clustermd/md0.ctl} → md0. */
    public static String nameOf(Path socket) {
        String f = socket.getFileName().toString();
        return f.endsWith(SUFFIX) ? f.substring(0, f.length() - SUFFIX.length()) : f;
    }
}
