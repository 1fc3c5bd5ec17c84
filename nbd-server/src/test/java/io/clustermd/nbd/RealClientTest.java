package io.clustermd.nbd;

/** {@link RealClientTests} on the epoll transport, file I/O on the backend's I/O threads. */
class RealClientTest extends RealClientTests {
    @Override
    NbdServer.Transport transport() {
        return NbdServer.Transport.EPOLL;
    }
}
