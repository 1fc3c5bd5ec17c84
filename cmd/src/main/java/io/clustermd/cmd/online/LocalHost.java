package io.clustermd.cmd.online;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** mdadm's homehost default: the kernel's host name. */
final class LocalHost {

    private LocalHost() {
    }

    static String name() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
