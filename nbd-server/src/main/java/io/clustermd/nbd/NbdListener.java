package io.clustermd.nbd;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the server listens: a TCP address or a unix domain socket. Parsed from the command-line
 * forms {@code tcp:HOST:PORT} (IPv6 as {@code tcp:[::1]:PORT}) and {@code unix:PATH}.
 */
public sealed interface NbdListener {

    /** IANA port of NBD. */
    int DEFAULT_PORT = 10809;

    record Tcp(String host, int port) implements NbdListener {
        public Tcp {
            Objects.requireNonNull(host, "host");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " (expected: 0..65535)");
            }
        }

        @Override
        public String toString() {
            return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    record Unix(Path path) implements NbdListener {
        public Unix {
            Objects.requireNonNull(path, "path");
        }

        @Override
        public String toString() {
            return "unix:" + path;
        }
    }

    /** Parses {@code tcp:HOST:PORT}, {@code tcp:PORT}, {@code unix:PATH}. */
    static NbdListener parse(String spec) {
        if (spec.startsWith("unix:")) {
            String p = spec.substring(5);
            if (p.isEmpty()) {
                throw new IllegalArgumentException("'" + spec + "': unix: needs a socket path, e.g. unix:/run/clustermd/disk.nbd");
            }
            return new Unix(Path.of(p));
        }
        if (spec.startsWith("tcp:")) {
            String rest = spec.substring(4);
            String host = "127.0.0.1";
            String port = rest;
            int colon = rest.lastIndexOf(':');
            if (rest.startsWith("[")) {
                int close = rest.indexOf(']');
                if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
                    throw new IllegalArgumentException("'" + spec + "': expected tcp:[IPV6]:PORT");
                }
                host = rest.substring(1, close);
                port = rest.substring(close + 2);
            } else if (colon >= 0) {
                host = rest.substring(0, colon);
                port = rest.substring(colon + 1);
            }
            try {
                return new Tcp(host, Integer.parseInt(port));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + spec + "': port '" + port + "' is not a number (expected tcp:HOST:PORT)");
            }
        }
        throw new IllegalArgumentException("'" + spec + "': expected tcp:HOST:PORT or unix:PATH");
    }
}
