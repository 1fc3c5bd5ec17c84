package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.await;
import static io.clustermd.md.io.IoTesting.failure;
import static io.clustermd.md.io.IoTesting.sparseFile;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.md.io.MemberIoException.Reason;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sparse member on a full file system (a 1 MiB tmpfs, which has O_DIRECT): ENOSPC is reported as such. */
class FullFileSystemTest {
    @TempDir
    Path dir;

    private static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    @Test
    void write_beyondFreeSpace_failsWithNoSpace() throws Exception {
        Path mnt = dir.resolve("small");
        java.nio.file.Files.createDirectory(mnt);
        run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt.toString());
        ExecutorService io = Executors.newFixedThreadPool(2);
        try {
            Path p = sparseFile(mnt.resolve("member.img"), 16L << 20);
            try (FileMemberDevice dev = MemberDevices.open(p, true, io)) {
                await(dev.write(dev.allocate(256 << 10), 0, false));
                MemberIoException e = failure(dev.write(dev.allocate(4 << 20), 1 << 20, true));
                assertThat(e.reason()).isEqualTo(Reason.NO_SPACE);
                assertThat(e).hasMessage(p + ": write of 4194304 bytes at 1048576 failed: No space left on device");
                // Space that is already allocated stays usable.
                await(dev.write(dev.allocate(256 << 10), 0, true));
            }
        } finally {
            io.shutdown();
            io.awaitTermination(10, TimeUnit.SECONDS);
            run("umount", mnt.toString());
        }
    }
}
