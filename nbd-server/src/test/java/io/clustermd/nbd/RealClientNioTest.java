package io.clustermd.nbd;

/** {@link RealClientTests} on the NIO transport (the fallback where neither io_uring nor epoll exist). */
class RealClientNioTest extends RealClientTests {
    @Override
    NbdServer.Transport transport() {
        return NbdServer.Transport.NIO;
    }
}
