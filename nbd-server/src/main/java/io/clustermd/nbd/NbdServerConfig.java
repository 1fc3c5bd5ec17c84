package io.clustermd.nbd;

import java.time.Duration;

/**
 * Per-connection limits of the server.
 *
 * @param maxInFlight      requests a connection may have at the backend at once; when reached the
 *                         server stops reading that socket until replies drain (backpressure)
 * @param handshakeTimeout a client that has not finished the handshake by then is disconnected
 * @param maxOptionLength  option data longer than this is skipped and refused with ERR_TOO_BIG
 * @param maxOptions       options one connection may send before it is dropped (a loop guard)
 * @param shutdownGrace    how long a graceful stop waits for in-flight requests
 */
public record NbdServerConfig(int maxInFlight, Duration handshakeTimeout, int maxOptionLength, int maxOptions,
                              Duration shutdownGrace) {

    public static final NbdServerConfig DEFAULTS =
            new NbdServerConfig(128, Duration.ofSeconds(30), 65536, 1024, Duration.ofSeconds(30));

    public NbdServerConfig {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight " + maxInFlight + " (expected: >= 1)");
        }
        if (maxOptionLength < 4096 + 16) {
            throw new IllegalArgumentException("maxOptionLength " + maxOptionLength + " (expected: >= 4112)");
        }
    }

    public NbdServerConfig withMaxInFlight(int n) {
        return new NbdServerConfig(n, handshakeTimeout, maxOptionLength, maxOptions, shutdownGrace);
    }

    public NbdServerConfig withHandshakeTimeout(Duration d) {
        return new NbdServerConfig(maxInFlight, d, maxOptionLength, maxOptions, shutdownGrace);
    }
}
