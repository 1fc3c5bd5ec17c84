package io.clustermd.daemon;

import io.clustermd.nbd.NbdServerConfig;
import io.netty.util.internal.PlatformDependent;
import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The NBD server's limits as command-line options, shared by {@code clustermd run} and
 * {@code clustermd export-file} (nbdkit's {@code --threads}, qemu-nbd's {@code --shared}): what
 * one connection and all of them may have in flight, how many connections, how long a client may
 * leave its replies unread, and how long a stop waits.
 */
public final class NbdLimitOptions {
    private static final NbdServerConfig D = NbdServerConfig.DEFAULTS;

    /** Direct memory asked of the JVM beyond the limits' bound: Netty's chunks, the md layer's buffers. */
    static final double DIRECT_MEMORY_MARGIN = 1.25;

    @Option(names = "--max-in-flight", paramLabel = "N",
            description = "requests one connection may have in flight; at the limit its socket is not read (default: ${DEFAULT-VALUE})")
    int maxInFlight = D.maxInFlight();

    @Option(names = "--max-in-flight-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "buffer memory one connection's requests may hold, e.g. 8M; one larger request is served alone (default: 8M)")
    long maxInFlightBytes = D.maxInFlightBytes();

    @Option(names = "--server-max-in-flight", paramLabel = "N",
            description = "requests all connections together may have in flight (default: ${DEFAULT-VALUE})")
    int serverMaxInFlight = D.serverMaxInFlight();

    @Option(names = "--server-max-in-flight-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "buffer memory all connections' requests may hold, at least 32M + 4K (default: 64M)")
    long serverMaxInFlightBytes = D.serverMaxInFlightBytes();

    @Option(names = "--max-connections", paramLabel = "N",
            description = "open NBD connections; more are closed at once (default: ${DEFAULT-VALUE})")
    int maxConnections = D.maxConnections();

    @Option(names = "--reply-stall-timeout", paramLabel = "SECONDS",
            description = "drop a client that has left its replies unread this long (default: ${DEFAULT-VALUE})")
    long replyStallSeconds = D.replyStallTimeout().toSeconds();

    @Option(names = "--shutdown-grace", paramLabel = "SECONDS",
            description = "how long a stop waits for requests in flight and their replies (default: ${DEFAULT-VALUE})")
    long shutdownGraceSeconds = D.shutdownGrace().toSeconds();

    /**
     * The server config, refused with a usage error when the limits do not fit together or need more
     * direct memory than the JVM allows.
     */
    NbdServerConfig toConfig(CommandLine.Model.CommandSpec spec) {
        NbdServerConfig c;
        try {
            c = D.toBuilder().maxInFlight(maxInFlight).maxInFlightBytes(maxInFlightBytes)
                    .serverMaxInFlight(serverMaxInFlight).serverMaxInFlightBytes(serverMaxInFlightBytes)
                    .maxConnections(maxConnections).replyStallTimeout(Duration.ofSeconds(Math.max(1, replyStallSeconds)))
                    .shutdownGrace(Duration.ofSeconds(Math.max(0, shutdownGraceSeconds))).build();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "NBD limits: " + e.getMessage());
        }
        long need = (long) (c.directMemoryBound() * DIRECT_MEMORY_MARGIN);
        long have = PlatformDependent.maxDirectMemory();
        if (need > have) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.format(Locale.ROOT,
                    "these NBD limits need up to %d MiB of direct memory (in-flight bytes + 16 MiB idle buffers"
                            + " + 128 KiB per connection, plus a quarter), but the JVM allows %d MiB: give"
                            + " CLUSTERMD_JAVA_OPTS=\"-Xmx64m -XX:+UseSerialGC -XX:MaxDirectMemorySize=%dm\""
                            + " or lower --server-max-in-flight-bytes / --max-connections",
                    need >> 20, have >> 20, (need >> 20) + 1));
        }
        return c;
    }

    /** Sizes with an optional K, M or G suffix (powers of 1024). */
    static final class SizeConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            String v = value.trim().toUpperCase(Locale.ROOT).replace("IB", "").replace("B", "");
            long mult = 1;
            if (!v.isEmpty() && "KMG".indexOf(v.charAt(v.length() - 1)) >= 0) {
                mult = 1L << (10 * ("KMG".indexOf(v.charAt(v.length() - 1)) + 1));
                v = v.substring(0, v.length() - 1);
            }
            try {
                return Math.multiplyExact(Long.parseLong(v), mult);
            } catch (NumberFormatException | ArithmeticException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a size (e.g. 8M, 65536, 1G)");
            }
        }
    }
}
