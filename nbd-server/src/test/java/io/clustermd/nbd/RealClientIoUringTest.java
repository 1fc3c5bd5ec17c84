package io.clustermd.nbd;

/**
 * {@link RealClientTests} on the io_uring transport, where the file backend submits its reads,
 * writes, fdatasync and fallocate (trim, fast zero) to the rings of the event loops.
 */
class RealClientIoUringTest extends RealClientTests {
    @Override
    NbdServer.Transport transport() {
        io.netty.channel.uring.IoUring.ensureAvailability();
        return NbdServer.Transport.IO_URING;
    }
}
