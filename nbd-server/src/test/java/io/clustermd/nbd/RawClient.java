package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A minimal blocking NBD client that sends exactly the bytes a test asks for, including malformed
 * ones (test helper; real-client behaviour is tested with libnbd and qemu).
 */
final class RawClient implements AutoCloseable {
    final SocketChannel ch;
    final DataInputStream in;
    final DataOutputStream out;
    long size;
    int transmissionFlags;

    private RawClient(SocketChannel ch) {
        this.ch = ch;
        this.in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(ch), 1 << 16));
        this.out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16));
    }

    static RawClient tcp(int port) throws IOException {
        return connect(new InetSocketAddress("127.0.0.1", port));
    }

    static RawClient unix(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new RawClient(ch);
    }

    private static RawClient connect(SocketAddress a) throws IOException {
        SocketChannel ch = SocketChannel.open(a);
        ch.socket().setTcpNoDelay(true);
        return new RawClient(ch);
    }

    /** Reads the greeting and sends client flags. */
    RawClient greet() throws IOException {
        if (in.readLong() != NBD_MAGIC || in.readLong() != NBD_OPTS_MAGIC) {
            throw new IOException("bad greeting");
        }
        in.readUnsignedShort();
        out.writeInt(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
        out.flush();
        return this;
    }

    /** Full handshake with NBD_OPT_GO for {@code export}; optionally structured replies first. */
    RawClient go(String export, boolean structured) throws IOException {
        greet();
        if (structured) {
            option(NBD_OPT_STRUCTURED_REPLY, new byte[0]);
            expectAck();
        }
        option(NBD_OPT_GO, ClientFrames.goData(export, NBD_INFO_BLOCK_SIZE));
        for (;;) {
            in.readLong();
            in.readInt();
            int type = in.readInt();
            int len = in.readInt();
            byte[] d = in.readNBytes(len);
            if (type == NBD_REP_ACK) {
                return this;
            }
            if (type != NBD_REP_INFO) {
                throw new IOException("NBD_OPT_GO failed: reply type 0x" + Integer.toHexString(type) + " "
                        + new String(d, StandardCharsets.UTF_8));
            }
            if (((d[0] << 8) | d[1]) == NBD_INFO_EXPORT) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(d);
                b.getShort();
                size = b.getLong();
                transmissionFlags = b.getShort() & 0xffff;
            }
        }
    }

    void option(int opt, byte[] data) throws IOException {
        out.writeLong(NBD_OPTS_MAGIC);
        out.writeInt(opt);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    private void expectAck() throws IOException {
        in.readLong();
        in.readInt();
        int type = in.readInt();
        in.readNBytes(in.readInt());
        if (type != NBD_REP_ACK) {
            throw new IOException("expected ACK, got 0x" + Integer.toHexString(type));
        }
    }

    /** Buffers a request (call {@link #flush()} to send). */
    void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        out.writeInt(NBD_REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
    }

    void flush() throws IOException {
        out.flush();
    }

    record Reply(long cookie, int error) {}

    /** Reads a simple reply header (the caller reads any data). */
    Reply readSimple() throws IOException {
        int magic = in.readInt();
        if (magic != NBD_SIMPLE_REPLY_MAGIC) {
            throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
        }
        int err = in.readInt();
        return new Reply(in.readLong(), err);
    }

    byte[] readData(int n) throws IOException {
        return in.readNBytes(n);
    }

    /** True when the server closes the connection (EOF) within the timeout; other bytes are skipped. */
    boolean closedByServer(long timeoutMs) throws InterruptedException {
        java.util.concurrent.CompletableFuture<Boolean> eof = new java.util.concurrent.CompletableFuture<>();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                while (in.read() >= 0) {
                    // skip
                }
                eof.complete(true);
            } catch (IOException e) {
                eof.complete(true);
            }
        });
        try {
            return eof.get(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return false;
        } finally {
            t.interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
