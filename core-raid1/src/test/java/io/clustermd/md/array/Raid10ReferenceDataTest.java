package io.clustermd.md.array;

import io.clustermd.md.ReferenceMembers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Golden tests of the raid10 data path against arrays the kernel made and wrote (resources/reference,
 * r10-*: every 4 KiB block {@code i} of the array holds {@code (i << 8) | 0x5A}, little-endian,
 * 512 times): the array has the kernel's size, reads back the kernel's bytes, every copy of every
 * block is where our mapping says (so each copy the kernel wrote is where we would write it), and
 * {@code check} finds the copies identical.
 */
class Raid10ReferenceDataTest {

    @TempDir
    Path dir;

    private final ArrayFixture fixture = new ArrayFixture();

    @AfterEach
    void tearDown() {
        fixture.close();
    }

    static List<String> shapes() {
        return List.copyOf(new TreeMap<>(ReferenceMembers.RAID10).keySet());
    }

    static long patternWord(long block) {
        return (block << 8) | 0x5A;
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void kernelArray_readsTheKernelsBytes_everyCopyWhereWeMapIt(String shape) throws Exception {
        int devices = ReferenceMembers.RAID10.get(shape);
        List<Path> members = new ArrayList<>();
        for (int i = 0; i < devices; i++) {
            members.add(ReferenceMembers.unpack(shape + "-" + i, dir));
        }
        long kernelSize = Long.parseLong(String.join("", ReferenceMembers.capture(shape, "getsize64")).trim());
        MdArray array = fixture.start(members, (i, d) -> d, 100_000, 1_000_000, SyncCheckpointStore.NONE);
        assertThat(array.size()).as("array size = blockdev --getsize64 on the kernel").isEqualTo(kernelSize);

        ByteBuffer all = ByteBuffer.allocateDirect((int) array.size()).order(ByteOrder.LITTLE_ENDIAN);
        array.read(all, 0).join();
        for (long block = 0; block < array.size() / 4096; block++) {
            for (int w = 0; w < 512; w += 127) {
                long got = all.getLong((int) (block * 4096 + w * 8));
                if (got != patternWord(block)) {
                    throw new AssertionError(String.format("%s: array block %d word %d reads %x, the kernel wrote %x",
                            shape, block, w, got, patternWord(block)));
                }
            }
        }

        long dataOffset = array.referenceCopy().dataOffset() * 512;
        List<FileChannel> raw = new ArrayList<>();
        for (Path m : members) {
            raw.add(FileChannel.open(m, StandardOpenOption.READ));
        }
        int checked = 0;
        try {
            ByteBuffer word = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            for (Personality.Piece piece : array.personality().map(0, array.size())) {
                for (long off = 0; off < piece.length(); off += 4096) {
                    long block = (piece.arrayOffset() + off) / 4096;
                    for (Personality.Extent e : piece.copies()) {
                        raw.get(e.slot()).read(word.clear(), dataOffset + e.memberOffset() + off);
                        if (word.getLong(0) != patternWord(block)) {
                            throw new AssertionError(String.format("%s: the copy of array block %d on slot %d at"
                                    + " member byte %d holds %x", shape, block, e.slot(), e.memberOffset() + off,
                                    word.getLong(0)));
                        }
                        checked++;
                    }
                }
            }
        } finally {
            for (FileChannel ch : raw) {
                ch.close();
            }
        }
        assertThat(checked).isPositive();

        // The clustered members were left "active" by md-cluster: without the bitmap here, a full resync first.
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.syncProgress().action() == SyncEngine.Action.IDLE);
        long before = array.checksCompleted();
        array.requestCheck(false);
        await().atMost(60, TimeUnit.SECONDS).until(() -> array.checksCompleted() > before);
        assertThat(array.mismatches()).isZero();
    }
}
