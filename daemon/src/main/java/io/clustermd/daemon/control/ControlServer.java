package io.clustermd.daemon.control;

import io.clustermd.control.ArrayControl;
import io.clustermd.control.ControlCodec;
import io.clustermd.control.ControlException;
import io.clustermd.control.ControlProtocolException;
import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The control socket of one daemon (what md's sysfs directory and {@code /dev/mdX} ioctls are to
 * mdadm): listens on a unix socket, reads one JSON request per line, calls the array's
 * {@link ArrayControl}, and writes one JSON response per line. Each connection is served by its own
 * virtual thread and may send any number of requests; a malformed or over-long line gets an error
 * response and the connection stays usable.
 *
 * <p>The socket file is made {@code 0600} before it becomes visible (bound under a temporary name,
 * chmod, renamed into place), so only the daemon's user (root) can manage the array. A socket file
 * left by a dead daemon is replaced; one that a live daemon answers on is not. {@link #close()}
 * removes the file if it is still ours.
 */
public final class ControlServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ControlServer.class);

    /** Concurrent connections served; more are told so and closed (a local tool never needs many). */
    static final int MAX_CONNECTIONS = 64;

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path socket;
    private final ArrayControl array;
    private final Runnable afterStop;
    private final ServerSocketChannel server;
    private final Object fileKey;
    private final Thread acceptor;
    private final Set<SocketChannel> clients = ConcurrentHashMap.newKeySet();
    private final Semaphore slots = new Semaphore(MAX_CONNECTIONS);
    /** Requests read and not yet answered: close() lets them finish so a stop's reply is not lost. */
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean closed;

    private ControlServer(Path socket, ArrayControl array, Runnable afterStop, ServerSocketChannel server,
                          Object fileKey) {
        this.socket = socket;
        this.array = array;
        this.afterStop = afterStop;
        this.server = server;
        this.fileKey = fileKey;
        this.acceptor = Thread.ofPlatform().name("control-accept").daemon(true).unstarted(this::acceptLoop);
    }

    /** Binds {@code socket} and serves {@code array}; for daemons whose ArrayControl.stop() itself ends the process. */
    public static ControlServer start(Path socket, ArrayControl array) throws IOException {
        return start(socket, array, () -> { });
    }

    /**
     * Binds {@code socket} and starts serving {@code array}.
     *
     * @param afterStop run (on its own thread) once a successful {@code stop} has been answered: the
     *                  daemon's exit path
     * @throws ControlSocketInUseException when a live daemon answers on {@code socket}
     * @throws IOException                 when the socket cannot be made (the message names the path)
     */
    public static ControlServer start(Path socket, ArrayControl array, Runnable afterStop) throws IOException {
        Objects.requireNonNull(array, "array");
        Objects.requireNonNull(afterStop, "afterStop");
        Path path = socket.toAbsolutePath();
        Path dir = path.getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IOException("cannot create the control socket's directory " + dir + ": " + reason(e)
                    + " (run as root, or choose another place with --run-dir or --control)", e);
        }
        replaceIfStale(path);

        // Bind under a private name, restrict it, then rename: the socket is never reachable with the
        // umask's permissions, and a daemon that loses a start race sees "in use", not a half-made file.
        Path temp = dir.resolve("." + path.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
        Files.deleteIfExists(temp);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            try {
                ch.bind(UnixDomainSocketAddress.of(temp));
            } catch (SocketException e) {
                throw new IOException("cannot listen on control socket " + path + ": " + reason(e)
                        + (path.toString().length() > 100 ? " (unix socket paths are limited to 107 bytes)" : ""), e);
            }
            Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-------"));
            Object key = Files.readAttributes(temp, BasicFileAttributes.class).fileKey();
            publish(temp, path);
            ControlServer s = new ControlServer(path, array, afterStop, ch, key);
            s.acceptor.start();
            log.info("control socket {} ready", path);
            return s;
        } catch (IOException | RuntimeException e) {
            ch.close();
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    /**
     * Gives the bound socket its real name. link(2) fails if the name exists, where rename(2) would
     * silently take it from a daemon that started at the same moment; the temporary name goes after.
     */
    static void publish(Path temp, Path path) throws IOException {
        try {
            Files.createLink(path, temp);
        } catch (FileAlreadyExistsException e) {
            throw new ControlSocketInUseException(path);
        } catch (UnsupportedOperationException | IOException e) {
            // a file system without hard links: rename, which is still atomic for the name
            Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE);
            return;
        }
        Files.delete(temp);
    }

    /** The socket's path. */
    public Path socket() {
        return socket;
    }

    /**
     * A socket file at {@code path} is left alone if a daemon answers on it, removed if nothing does
     * (the daemon that made it died without cleaning up), and refused if it is not a socket at all.
     */
    private static void replaceIfStale(Path path) throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IOException(path + " exists and is not a socket; remove it or choose another path with --control");
        }
        SocketChannel probe;
        try {
            probe = SocketChannel.open(UnixDomainSocketAddress.of(path));
        } catch (SocketException e) {
            if (!String.valueOf(e.getMessage()).contains("refused")) {
                // EACCES and the like say nothing about a listener: never delete what we cannot judge.
                throw new IOException("cannot tell whether a daemon listens on " + path + ": " + reason(e), e);
            }
            // ECONNREFUSED: nobody listens; the file is what a killed daemon left behind.
            log.info("removing stale control socket {} ({})", path, reason(e));
            Files.deleteIfExists(path);
            return;
        }
        closeQuietly(probe);
        throw new ControlSocketInUseException(path);
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    log.warn("control socket {}: accept failed: {}", socket, reason(e));
                }
                continue;
            }
            if (!slots.tryAcquire()) {
                refuse(c, "too many control connections (" + MAX_CONNECTIONS + "); close some clusterctl sessions");
                continue;
            }
            clients.add(c);
            Thread.ofVirtual().name("control-conn").start(() -> {
                try {
                    serve(c);
                } finally {
                    clients.remove(c);
                    slots.release();
                    closeQuietly(c);
                }
            });
        }
    }

    private void serve(SocketChannel c) {
        String peer = peer(c);
        LineReader lines = new LineReader(c, ControlCodec.MAX_REQUEST_LINE);
        try {
            while (!closed) {
                LineReader.Line line = lines.next();
                if (line == null) {
                    return;
                }
                inFlight.incrementAndGet();
                boolean stopped;
                try {
                    stopped = answer(c, line, peer);
                } finally {
                    inFlight.decrementAndGet();
                }
                if (stopped) {
                    Thread.ofPlatform().name("control-stopped").start(afterStop);
                    return;
                }
            }
        } catch (ClosedChannelException e) {
            // closed by close() or by the client: nothing to answer
        } catch (IOException e) {
            log.debug("control connection from {} ended: {}", peer, reason(e));
        }
    }

    /** Answers one line; true when it was a stop that succeeded. */
    private boolean answer(SocketChannel c, LineReader.Line line, String peer) throws IOException {
        ControlResponse response;
        ControlRequest request = null;
        if (line.tooLong()) {
            response = ControlResponse.failure("request line longer than " + ControlCodec.MAX_REQUEST_LINE
                    + " bytes; send one JSON object per line");
        } else {
            try {
                request = ControlCodec.decodeRequest(line.text());
                response = handle(request, peer);
            } catch (ControlProtocolException e) {
                response = ControlResponse.failure(e.getMessage());
            }
        }
        write(c, ControlCodec.encode(response));
        return request instanceof ControlRequest.Stop && response.ok();
    }

    private ControlResponse handle(ControlRequest request, String peer) {
        boolean mutating = !(request instanceof ControlRequest.Status);
        if (mutating) {
            log.info("{} requested by {}", ControlCodec.encode(request), peer);
        }
        try {
            ControlResponse r = ControlRequest.apply(request, array);
            if (mutating) {
                log.info("{} done", request.op());
            }
            return r;
        } catch (ControlException e) {
            if (mutating) {
                log.info("{} refused: {}", request.op(), e.getMessage());
            }
            return ControlResponse.failure(e.getMessage());
        } catch (RuntimeException e) {
            log.warn("{} failed inside the daemon", request.op(), e);
            return ControlResponse.failure("internal error in the daemon while handling " + request.op() + ": " + e
                    + "; see the daemon's log");
        }
    }

    private static void write(SocketChannel c, String line) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (buf.hasRemaining()) {
            c.write(buf);
        }
    }

    private static void refuse(SocketChannel c, String why) {
        try (c) {
            write(c, ControlCodec.encode(ControlResponse.failure(why)));
        } catch (IOException e) {
            // the client went away first
        }
    }

    /** The connecting process's user, for the log of management actions (md logs them in dmesg). */
    private static String peer(SocketChannel c) {
        try {
            UnixDomainPrincipal p = c.getOption(ExtendedSocketOptions.SO_PEERCRED);
            return "user " + p.user().getName();
        } catch (IOException | UnsupportedOperationException e) {
            return "an unknown user";
        }
    }

    /** Stops listening, closes every connection and removes the socket file if it is still ours. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(server);
        // A request being handled (typically the stop that led here) gets up to 2 s to send its reply.
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (SocketChannel c : clients) {
            closeQuietly(c);
        }
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            // Another daemon may have replaced a file it found stale (ours, if we were hung): keep theirs.
            if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS) && Objects.equals(fileKey,
                    Files.readAttributes(socket, BasicFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS).fileKey())) {
                Files.delete(socket);
            }
        } catch (IOException e) {
            log.warn("could not remove control socket {}: {}", socket, reason(e));
        }
        log.info("control socket {} closed", socket);
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing: nothing left to report to
        }
    }

    static String reason(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Reads '\n'-terminated lines of at most {@code max} bytes; longer lines are skipped and flagged. */
    static final class LineReader {
        record Line(String text, boolean tooLong) {
        }

        private final SocketChannel channel;
        private final int max;
        private final ByteBuffer buf = ByteBuffer.allocate(8192);
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
        private boolean overflow;

        LineReader(SocketChannel channel, int max) {
            this.channel = channel;
            this.max = max;
            buf.flip();
        }

        /** The next line, or null at end of stream (a final unterminated line is still returned). */
        Line next() throws IOException {
            while (true) {
                while (buf.hasRemaining()) {
                    byte b = buf.get();
                    if (b == '\n') {
                        return take();
                    }
                    if (overflow) {
                        continue;
                    }
                    if (pending.size() >= max) {
                        overflow = true;
                        pending.reset();
                    } else {
                        pending.write(b);
                    }
                }
                buf.clear();
                int n = channel.read(buf);
                buf.flip();
                if (n < 0) {
                    return pending.size() > 0 || overflow ? take() : null;
                }
            }
        }

        private Line take() {
            Line l = overflow ? new Line(null, true)
                    : new Line(pending.toString(StandardCharsets.UTF_8).stripTrailing(), false);
            pending.reset();
            overflow = false;
            return l;
        }
    }
}
