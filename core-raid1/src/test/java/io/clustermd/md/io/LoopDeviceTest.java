package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.await;
import static io.clustermd.md.io.IoTesting.failure;
import static io.clustermd.md.io.IoTesting.filled;
import static io.clustermd.md.io.IoTesting.readBack;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.md.io.MemberIoException.Reason;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Block-device members, on loop devices over files in a temporary directory (needs root and losetup). */
class LoopDeviceTest {
    private static final int SIZE = 32 << 20;

    @TempDir
    Path dir;
    private ExecutorService io;

    @BeforeEach
    void start() {
        io = Executors.newFixedThreadPool(4);
    }

    @AfterEach
    void stop() throws InterruptedException {
        io.shutdown();
        assertThat(io.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }

    private byte[] backingFile(Path file) throws IOException {
        byte[] content = new byte[SIZE];
        new SplittableRandom(11).nextBytes(content);
        Files.write(file, content);
        return content;
    }

    @Test
    void readOnlyLoop_sizeAndReads_workAndWritesFailClearly() throws Exception {
        Path file = dir.resolve("ro.img");
        byte[] content = backingFile(file);
        Path loop = Path.of(run("losetup", "-r", "-f", "--show", file.toString()));
        try {
            // An operator who gives a read-only device gets told so before anything is opened.
            assertThatThrownBy(() -> MemberDevices.open(loop, true, io))
                    .hasMessage(loop + ": the block device is read-only (blockdev --getro says 1); make it writable"
                            + " with 'blockdev --setrw " + loop + "', or attach the loop device without -r");

            try (FileMemberDevice dev = MemberDevices.open(loop, FileMemberDevice.Options.DEFAULT.withReadOnly(true),
                    io)) {
                assertThat(dev.isBlockDevice()).isTrue();
                assertThat(dev.sizeBytes()).isEqualTo(SIZE);
                assertThat(dev.alignment()).isEqualTo(4096);
                SplittableRandom rnd = new SplittableRandom(5);
                for (int i = 0; i < 50; i++) {
                    int len = 4096 * rnd.nextInt(1, 33);
                    int off = 4096 * rnd.nextInt((SIZE - len) / 4096 + 1);
                    assertThat(readBack(dev, off, len)).isEqualTo(Arrays.copyOfRange(content, off, off + len));
                }
                assertThat(readBack(dev, 1001, 5000)).isEqualTo(Arrays.copyOfRange(content, 1001, 6001));
                assertThat(failure(dev.read(dev.allocate(4096), SIZE)).reason()).isEqualTo(Reason.OUT_OF_RANGE);
                assertThat(failure(dev.write(dev.allocate(4096), 0, false)).reason()).isEqualTo(Reason.READ_ONLY);
                assertThat(dev.pathStillRefersToDevice()).isTrue();
            }

            // Opened read-write anyway (bypassing the checks): the kernel refuses the write, and the error says so.
            try (FileMemberDevice dev = FileMemberDevice.open(loop, FileMemberDevice.Options.DEFAULT, io)) {
                MemberIoException e = failure(dev.write(filled(dev, new byte[4096]), 1 << 20, false));
                assertThat(e.reason()).isEqualTo(Reason.READ_ONLY);
                assertThat(e).hasMessage(loop + ": write of 4096 bytes at 1048576 failed: Operation not permitted");
                assertThat(dev.stats().errors()).isEqualTo(1);
            }
        } finally {
            run("losetup", "-d", loop.toString());
        }
        IoTesting.assertSameBytes(Files.readAllBytes(file), content); // the backing file is untouched
    }

    @Test
    void writableLoop_writesDiscardsAndZeroes_reachTheBackingFile() throws Exception {
        Path file = dir.resolve("rw.img");
        byte[] model = backingFile(file);
        Path loop = Path.of(run("losetup", "-f", "--show", file.toString()));
        try {
            try (FileMemberDevice dev = MemberDevices.open(loop, true, io)) {
                assertThat(dev.isBlockDevice()).isTrue();
                assertThat(dev.sizeBytes()).isEqualTo(SIZE);
                byte[] data = new byte[65536];
                Arrays.fill(data, (byte) 0x42);
                await(dev.write(filled(dev, data), 4 << 20, true));
                System.arraycopy(data, 0, model, 4 << 20, data.length);
                await(dev.discard(8 << 20, 1 << 20));
                Arrays.fill(model, 8 << 20, 9 << 20, (byte) 0);
                await(dev.writeZeroes((12 << 20) + 100, (2 << 20) + 7));
                Arrays.fill(model, (12 << 20) + 100, (14 << 20) + 107, (byte) 0);
                await(dev.flush());
                IoTesting.assertSameBytes(readBack(dev, 0, SIZE), model);
                // The loop driver implements fallocate on the block device (by punching its backing file).
                assertThat(dev.stats().zeroFillFallbacks()).isZero();
            }
        } finally {
            run("losetup", "-d", loop.toString());
        }
        IoTesting.assertSameBytes(Files.readAllBytes(file), model);
    }
}
