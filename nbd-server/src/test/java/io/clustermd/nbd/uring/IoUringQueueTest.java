package io.clustermd.nbd.uring;

import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.nbd.NbdServer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.unix.FileDescriptor;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link IoUringQueue} on a real file: reads on both sides of {@link IoUringQueue#ASYNC_READ_MIN}. */
class IoUringQueueTest {
    private static final int O_RDONLY = 0;

    @TempDir
    Path dir;

    @Test
    void read_largeAndSmallReadsInOneSubmission_eachGetsItsOwnBytes() throws Exception {
        byte[] content = new byte[16 << 20];
        new Random(42).nextBytes(content);
        Path f = Files.write(dir.resolve("f.img"), content);
        EventLoopGroup group = NbdServer.newEventLoopGroup(NbdServer.Transport.IO_URING, 1);
        try (IoUringQueue queue = new IoUringQueue(group)) {
            int fd = queue.openat(f, O_RDONLY).get(30, TimeUnit.SECONDS);
            assertThat(fd).as("openat result").isGreaterThanOrEqualTo(0);
            try {
                readAll(group, queue, fd, content);
            } finally {
                new FileDescriptor(fd).close();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void readSqeFlags_largeReadsOnly_areIssuedByTheKernelsWorkers() {
        assertThat(IoUringQueue.readSqeFlags(4096)).isZero();
        assertThat(IoUringQueue.readSqeFlags(IoUringQueue.ASYNC_READ_MIN - 1)).isZero();
        assertThat(IoUringQueue.readSqeFlags(IoUringQueue.ASYNC_READ_MIN)).isEqualTo(IoUringQueue.IOSQE_ASYNC);
        assertThat(IoUringQueue.readSqeFlags(1 << 20)).isEqualTo(IoUringQueue.IOSQE_ASYNC);
    }

    private static void readAll(EventLoopGroup group, IoUringQueue queue, int fd, byte[] content) throws Exception {
        // Sizes below, at and above the threshold, with adjacent offsets the block layer could merge.
        int[] sizes = {4096, IoUringQueue.ASYNC_READ_MIN - 4096, IoUringQueue.ASYNC_READ_MIN, 1 << 20, 1 << 20,
                1 << 20, 3 << 20, 8192};
        List<ByteBuffer> buffers = new ArrayList<>();
        List<CompletableFuture<Integer>> results = new ArrayList<>();
        long[] offsets = new long[sizes.length];
        // Submitted from the loop, so all of them go on the ring in the same batch.
        group.next().submit(() -> {
            long offset = 0;
            for (int i = 0; i < sizes.length; i++) {
                ByteBuffer b = ByteBuffer.allocateDirect(sizes[i]);
                buffers.add(b);
                offsets[i] = offset;
                results.add(queue.read(fd, b, offset));
                offset += sizes[i];
            }
        }).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < sizes.length; i++) {
            assertThat(results.get(i).get(30, TimeUnit.SECONDS)).as("bytes read by read %d", i).isEqualTo(sizes[i]);
            byte[] got = new byte[sizes[i]];
            buffers.get(i).get(0, got);
            byte[] want = new byte[sizes[i]];
            System.arraycopy(content, (int) offsets[i], want, 0, sizes[i]);
            assertThat(got).as("bytes of read %d at %d", i, offsets[i]).isEqualTo(want);
        }
        // A read past the end returns 0 bytes rather than failing.
        assertThat(queue.read(fd, ByteBuffer.allocateDirect(1 << 20), content.length).get(30, TimeUnit.SECONDS))
                .isZero();
    }
}
