package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.sparseFile;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MemberDevices.open refuses unusable paths with a message that names the path, the problem and the fix. */
class MemberDevicesTest {
    private static final Executor DIRECT = Runnable::run;

    @TempDir
    Path dir;

    @Test
    void open_missingPath_saysSoAndHowToMakeOne() {
        Path p = dir.resolve("nope.img");
        assertThatThrownBy(() -> MemberDevices.open(p, true, DIRECT))
                .hasMessage(p + ": no such file or device; give the path of a member file or disk"
                        + " (a file member can be made with 'truncate -s SIZE " + p + "')");
    }

    @Test
    void open_memberAlreadyServed_isRefusedAsInUseUntilReleased() throws Exception {
        Path p = sparseFile(dir.resolve("m.img"), 1 << 20);
        try (FileMemberDevice first = MemberDevices.open(p, true, DIRECT)) {
            assertThatThrownBy(() -> MemberDevices.open(p, true, DIRECT))
                    .hasMessageContaining(p.toString())
                    .hasMessageContaining("in use")
                    .hasMessageContaining("clusterctl stop");
            assertThatThrownBy(() -> MemberDevices.checkNotClaimed(p)).hasMessageContaining("in use");
            // Reading (examine) is not a claim.
            MemberDevices.open(p, FileMemberDevice.Options.DEFAULT.withReadOnly(true), DIRECT).close();
        }
        MemberDevices.checkNotClaimed(p);
        MemberDevices.open(p, true, DIRECT).close();
    }

    @Test
    void open_directory_isRefused() {
        assertThatThrownBy(() -> MemberDevices.open(dir, true, DIRECT))
                .hasMessage(dir + ": is a directory; give a member file or a block device");
    }

    @Test
    void open_characterDevice_isRefused() {
        assertThatThrownBy(() -> MemberDevices.open(Path.of("/dev/null"), true, DIRECT))
                .hasMessage("/dev/null: is a character device; members are regular files or block devices");
    }

    @Test
    void open_emptyFile_isRefusedWithASizeHint() throws Exception {
        Path p = Files.createFile(dir.resolve("empty.img"));
        assertThatThrownBy(() -> MemberDevices.open(p, true, DIRECT))
                .hasMessageStartingWith(p + ": is empty; a member needs room")
                .hasMessageContaining("truncate -s 1G " + p);
    }

    @Test
    void open_fifo_isRefused() throws Exception {
        Path p = dir.resolve("fifo");
        Process mk = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
        if (mk.waitFor() != 0) {
            throw new AssertionError("mkfifo failed");
        }
        assertThatThrownBy(() -> MemberDevices.open(p, true, DIRECT))
                .hasMessageStartingWith(p + ": is not a regular file or block device");
    }

    @Test
    void open_symlinkToMember_opensTheTarget() throws Exception {
        Path target = sparseFile(dir.resolve("t.img"), 1 << 20);
        Path link = Files.createSymbolicLink(dir.resolve("link.img"), target);
        try (FileMemberDevice dev = MemberDevices.open(link, true, DIRECT)) {
            assertThat(dev.sizeBytes()).isEqualTo(1 << 20);
            assertThat(dev.name()).isEqualTo(link.toString());
        }
    }

    @Test
    void blockDeviceNumbers_ofEveryBlockDeviceInSysfs_matchTheKernelsMajorMinor() throws Exception {
        // /sys/dev/block/MAJ:MIN names every block device; its uevent says which /dev node that is.
        int checked = 0;
        try (var entries = Files.list(Path.of("/sys/dev/block"))) {
            for (Path entry : (Iterable<Path>) entries::iterator) {
                String devName = Files.readAllLines(entry.resolve("uevent")).stream()
                        .filter(l -> l.startsWith("DEVNAME=")).map(l -> l.substring(8)).findFirst().orElse(null);
                Path node = devName == null ? null : Path.of("/dev", devName);
                if (node == null || !Files.exists(node)) {
                    continue;
                }
                String[] majMin = entry.getFileName().toString().split(":");
                assertThat(MemberDevices.blockDeviceNumbers(node)).as(node.toString())
                        .containsExactly(Integer.parseInt(majMin[0]), Integer.parseInt(majMin[1]));
                checked++;
            }
        }
        assertThat(checked).as("block devices found").isPositive();
    }

    @Test
    void blockDeviceNumbers_ofFileCharacterDeviceOrMissingPath_isNull() throws Exception {
        Path file = sparseFile(dir.resolve("f.img"), 1 << 20);
        assertThat(MemberDevices.blockDeviceNumbers(file)).isNull();
        assertThat(MemberDevices.blockDeviceNumbers(Path.of("/dev/null"))).isNull();
        assertThat(MemberDevices.blockDeviceNumbers(dir.resolve("missing"))).isNull();
    }
}
