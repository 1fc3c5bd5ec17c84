package io.clustermd.nbd;

import io.clustermd.nbd.file.AlignedBufferPool;
import java.time.Duration;

/**
 * The server's limits: what one connection and the whole server may have in flight, how many
 * connections there may be, and how long the server waits for clients. nbdkit has the per-connection
 * part only as a thread count; qemu-nbd as its fixed queue of 16 requests.
 *
 * <p>A request is <em>in flight</em> from the moment its header is decoded until its reply has been
 * handed to the socket, and it is charged the buffer memory it holds meanwhile: for a READ or WRITE
 * the aligned pool's footprint of its length ({@link AlignedBufferPool#footprint}), else nothing.
 * When a connection is at one of its limits, or the server at one of its own, the connection's
 * socket is not read (its bytes stay in the kernel) until replies drain; a WRITE payload is never
 * buffered before its request was admitted.
 *
 * @param maxInFlight            requests one connection may have in flight (the Linux client's queue depth is 128)
 * @param maxInFlightBytes       buffer bytes one connection may hold; a single larger request is admitted when
 *                               the connection has nothing else in flight
 * @param serverMaxInFlight      requests all connections together may have in flight
 * @param serverMaxInFlightBytes buffer bytes all connections together may hold; at least one maximum payload's
 * @param maxConnections         open connections (handshake or transmission); more are closed at once
 * @param replyStallTimeout      a connection whose replies have not moved for this long while the server has
 *                               replies queued for it (the client stopped reading) is dropped
 * @param handshakeTimeout       a client that has not finished the handshake by then is disconnected
 * @param maxOptionLength        option data longer than this is skipped and refused with ERR_TOO_BIG
 * @param maxOptions             options one connection may send before it is dropped (a loop guard)
 * @param shutdownGrace          how long a graceful stop waits for in-flight requests before it closes anyway
 */
public record NbdServerConfig(int maxInFlight, long maxInFlightBytes, int serverMaxInFlight, long serverMaxInFlightBytes,
                              int maxConnections, Duration replyStallTimeout, Duration handshakeTimeout,
                              int maxOptionLength, int maxOptions, Duration shutdownGrace) {

    /** Largest socket read; a connection whose reading is paused holds at most this much undecoded. */
    public static final int MAX_SOCKET_READ = 128 << 10;

    /** Largest READ/WRITE payload a backend may advertise (the spec's interoperable maximum). */
    static final int MAX_PAYLOAD = 32 << 20;

    public static final NbdServerConfig DEFAULTS = new NbdServerConfig(128, 8L << 20, 1024, 64L << 20, 256,
            Duration.ofSeconds(30), Duration.ofSeconds(30), 65536, 1024, Duration.ofSeconds(10));

    public NbdServerConfig {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight " + maxInFlight + " (expected: >= 1)");
        }
        if (maxInFlightBytes < 1) {
            throw new IllegalArgumentException("maxInFlightBytes " + maxInFlightBytes + " (expected: >= 1)");
        }
        if (serverMaxInFlight < maxInFlight) {
            throw new IllegalArgumentException("serverMaxInFlight " + serverMaxInFlight + " (expected: >= maxInFlight "
                    + maxInFlight + ")");
        }
        long onePayload = AlignedBufferPool.footprint(MAX_PAYLOAD);
        if (serverMaxInFlightBytes < Math.max(onePayload, maxInFlightBytes)) {
            throw new IllegalArgumentException("serverMaxInFlightBytes " + serverMaxInFlightBytes
                    + " (expected: >= one 32 MiB payload's buffer, " + onePayload + ", and >= maxInFlightBytes)");
        }
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections " + maxConnections + " (expected: >= 1)");
        }
        if (maxOptionLength < 4096 + 16) {
            throw new IllegalArgumentException("maxOptionLength " + maxOptionLength + " (expected: >= 4112)");
        }
    }

    /**
     * The direct memory the server may use at most with these limits: the buffers of requests in
     * flight, the idle buffers the aligned pool keeps, and one socket read per connection (a paused
     * connection keeps what it read but has not decoded; option data is bounded by the same read).
     * Netty's allocator rounds and keeps some chunks of its own: callers add a margin for that.
     */
    public long directMemoryBound() {
        return serverMaxInFlightBytes + AlignedBufferPool.SHARED.maxIdleBytes() + (long) maxConnections * MAX_SOCKET_READ;
    }

    public NbdServerConfig withMaxInFlight(int n) {
        return toBuilder().maxInFlight(n).build();
    }

    public NbdServerConfig withHandshakeTimeout(Duration d) {
        return toBuilder().handshakeTimeout(d).build();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Changes some limits of a config; {@link #build()} checks them together. */
    public static final class Builder {
        private int maxInFlight;
        private long maxInFlightBytes;
        private int serverMaxInFlight;
        private long serverMaxInFlightBytes;
        private int maxConnections;
        private Duration replyStallTimeout;
        private Duration handshakeTimeout;
        private final int maxOptionLength;
        private final int maxOptions;
        private Duration shutdownGrace;

        private Builder(NbdServerConfig c) {
            maxInFlight = c.maxInFlight;
            maxInFlightBytes = c.maxInFlightBytes;
            serverMaxInFlight = c.serverMaxInFlight;
            serverMaxInFlightBytes = c.serverMaxInFlightBytes;
            maxConnections = c.maxConnections;
            replyStallTimeout = c.replyStallTimeout;
            handshakeTimeout = c.handshakeTimeout;
            maxOptionLength = c.maxOptionLength;
            maxOptions = c.maxOptions;
            shutdownGrace = c.shutdownGrace;
        }

        public Builder maxInFlight(int n) { maxInFlight = n; return this; }
        public Builder maxInFlightBytes(long n) { maxInFlightBytes = n; return this; }
        public Builder serverMaxInFlight(int n) { serverMaxInFlight = n; return this; }
        public Builder serverMaxInFlightBytes(long n) { serverMaxInFlightBytes = n; return this; }
        public Builder maxConnections(int n) { maxConnections = n; return this; }
        public Builder replyStallTimeout(Duration d) { replyStallTimeout = d; return this; }
        public Builder handshakeTimeout(Duration d) { handshakeTimeout = d; return this; }
        public Builder shutdownGrace(Duration d) { shutdownGrace = d; return this; }

        public NbdServerConfig build() {
            return new NbdServerConfig(maxInFlight, maxInFlightBytes, serverMaxInFlight, serverMaxInFlightBytes,
                    maxConnections, replyStallTimeout, handshakeTimeout, maxOptionLength, maxOptions, shutdownGrace);
        }
    }
}
