package io.clustermd.daemon.array;

import io.clustermd.md.io.DirectIoQueue;
import io.clustermd.nbd.uring.IoUringQueue;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Member I/O on the io_uring of the NBD event loops: the member devices' {@link DirectIoQueue}. A write that
 * arrives on an NBD connection is mirrored to the members from the same event loop, on the same ring as the
 * socket, and answered when the ring reports both copies done, as QEMU's {@code aio=io_uring} does; no member
 * I/O thread takes part.
 */
public final class UringMemberQueue implements DirectIoQueue {
    private final IoUringQueue ring;

    public UringMemberQueue(IoUringQueue ring) {
        this.ring = ring;
    }

    @Override
    public boolean servesCurrentThread() {
        return ring.inRingThread();
    }

    @Override
    public CompletableFuture<Integer> read(int fd, ByteBuffer dst, long offset) {
        return ring.read(fd, dst, offset);
    }

    @Override
    public CompletableFuture<Integer> write(int fd, ByteBuffer src, long offset, boolean dsync) {
        return ring.write(fd, src, offset, dsync);
    }

    @Override
    public CompletableFuture<Integer> fdatasync(int fd) {
        return ring.fdatasync(fd);
    }
}
