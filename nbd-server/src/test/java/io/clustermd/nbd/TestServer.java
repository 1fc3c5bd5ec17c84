package io.clustermd.nbd;

import io.clustermd.nbd.file.FileBackend;
import io.clustermd.nbd.memory.MemoryBackend;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/**
 * A running server for real-client tests: export "" = an O_DIRECT file, export "mem" = a RAM disk
 * (which also offers trim and fast zero), export "ro" = the file read-only; on TCP (port chosen by
 * the kernel) and on a unix socket.
 */
final class TestServer implements AutoCloseable {
    final Path file;
    final Path socket;
    final FileBackend backend;
    final FileBackend readOnly;
    final MemoryBackend mem;
    final NbdServer server;
    final io.netty.channel.EventLoopGroup group;

    TestServer(Path dir, long size) throws IOException {
        this(dir, size, NbdServerConfig.DEFAULTS);
    }

    TestServer(Path dir, long size, NbdServerConfig config) throws IOException {
        this(dir, size, config, NbdServer.Transport.EPOLL);
    }

    /** With IO_URING the file exports also do their I/O on the event loops' rings. */
    TestServer(Path dir, long size, NbdServerConfig config, NbdServer.Transport transport) throws IOException {
        file = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
        socket = dir.resolve("nbd.sock");
        group = NbdServer.newEventLoopGroup(transport, 2);
        io.netty.channel.EventLoopGroup rings = transport == NbdServer.Transport.IO_URING ? group : null;
        backend = FileBackend.open(file, FileBackend.Options.DEFAULTS.withIoThreads(8), rings);
        readOnly = FileBackend.open(file, FileBackend.Options.DEFAULTS.withReadOnly(true).withIoThreads(2), rings);
        mem = new MemoryBackend(16 << 20);
        server = NbdServer.builder()
                .transport(transport)
                .eventLoopGroup(group)
                .export(new NbdExport("", "test file", backend))
                .export(new NbdExport("mem", "RAM disk", mem))
                .export(new NbdExport("ro", "read-only view", readOnly))
                .listen(new NbdListener.Tcp("127.0.0.1", 0))
                .listen(new NbdListener.Unix(socket))
                .config(config)
                .start();
    }

    String tcpUri(String export) {
        return "nbd://127.0.0.1:" + server.tcpPort() + "/" + export;
    }

    String unixUri(String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    @Override
    public void close() throws Exception {
        server.close();
        backend.close();
        readOnly.close();
        group.shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
    }
}
