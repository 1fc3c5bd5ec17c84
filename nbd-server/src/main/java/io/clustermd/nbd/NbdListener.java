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

    /** Whether hosts other than this one can connect (a TCP address that is not loopback). */
    boolean reachableFromNetwork();

    record Tcp(String host, int port) implements NbdListener {
        public Tcp {
            Objects.requireNonNull(host, "host");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " (expected: 0..65535)");
            }
        }

        /**
         * Whether other hosts can connect: the address is not a loopback one (a wildcard address
         * such as 0.0.0.0 listens on every interface). A name that does not resolve counts as reachable.
         */
        @Override
        public boolean reachableFromNetwork() {
            try {
                return !java.net.InetAddress.getByName(host).isLoopbackAddress();
            } catch (java.net.UnknownHostException e) {
                return true;
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
        public boolean reachableFromNetwork() {
            return false;
        }

        @Override
        public String toString() {
            return "unix:" + path;
        }
    }

    /**
     * Parses {@code tcp:HOST:PORT}, {@code tcp:PORT} (loopback: 127.0.0.1) and {@code unix:PATH}. A
     * TCP address that other hosts reach is only ever the one written out: see {@link #reachableFromNetwork}.
     */
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
