package io.clustermd.cmd.online;

import io.clustermd.control.ControlCodec;
import io.clustermd.control.ControlProtocolException;
import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import io.clustermd.control.ControlSockets;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One connection to a daemon's control socket (mdadm's open of {@code /dev/mdX}): sends request lines,
 * reads response lines. Failures become {@link OnlineFailure}s with clusterctl's one-line messages.
 */
public final class ControlClient implements AutoCloseable {

    /** How long clusterctl waits for an answer by default: a daemon blocked longer is reported, not waited for. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    private final Path socket;
    private final SocketChannel channel;
    private final Duration timeout;
    private final ByteBuffer in = ByteBuffer.allocate(64 * 1024);

    private ControlClient(Path socket, SocketChannel channel, Duration timeout) {
        this.socket = socket;
        this.channel = channel;
        this.timeout = timeout;
        in.flip();
    }

    /** Connects with the default answer timeout. */
    public static ControlClient connect(Path socket) {
        return connect(socket, DEFAULT_TIMEOUT);
    }

    /** Connects, or explains why no daemon could be reached; each call then waits at most {@code timeout}. */
    public static ControlClient connect(Path socket, Duration timeout) {
        String name = ControlSockets.nameOf(socket);
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            throw new OnlineFailure(noDaemon(name, "no control socket at " + socket));
        }
        SocketChannel ch = null;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(socket));
            return new ControlClient(socket, ch, timeout);
        } catch (IOException e) {
            closeQuietly(ch);
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            if (e instanceof SocketException && why.contains("refused")) {
                throw new OnlineFailure(noDaemon(name, "nothing answers on control socket " + socket));
            }
            if (why.contains("ermission denied")) {
                throw new OnlineFailure("cannot reach the clustermd daemon for array " + name + " at " + socket
                        + ": permission denied (the control socket is for root; run clusterctl as root)");
            }
            throw new OnlineFailure("cannot reach the clustermd daemon for array " + name + " at " + socket + ": " + why);
        }
    }

    static String noDaemon(String name, String why) {
        return "no clustermd daemon for array " + name + " (" + why + "); start it with 'clustermd run ...'";
    }

    /**
     * Sends one request and waits for its response, at most the timeout: a daemon that does not answer
     * (blocked on a member, a lock) is reported instead of hanging the administrator's shell.
     */
    public ControlResponse call(ControlRequest request) {
        AtomicBoolean answered = new AtomicBoolean();
        AtomicBoolean timedOut = new AtomicBoolean();
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(timeout);
                if (!answered.get()) {
                    timedOut.set(true);
                    channel.close(); // wakes the blocked read
                }
            } catch (InterruptedException | IOException e) {
                // answered in time, or closing failed: nothing to do either way
            }
        });
        try {
            return exchange(request);
        } catch (OnlineFailure e) {
            if (timedOut.get()) {
                throw new OnlineFailure("the clustermd daemon for array " + ControlSockets.nameOf(socket)
                        + " did not answer " + request.op() + " within " + seconds(timeout)
                        + " (it may be blocked; see its log, or wait longer with --timeout)");
            }
            throw e;
        } finally {
            answered.set(true);
            watchdog.interrupt();
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    private ControlResponse exchange(ControlRequest request) {
        try {
            ByteBuffer out = ByteBuffer.wrap((ControlCodec.encode(request) + "\n").getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining()) {
                channel.write(out);
            }
            String line = readLine();
            if (line == null) {
                throw new OnlineFailure("the clustermd daemon for array " + ControlSockets.nameOf(socket)
                        + " closed the connection without answering " + request.op() + " (it may have stopped or crashed;"
                        + " see its log)");
            }
            return ControlCodec.decodeResponse(line);
        } catch (IOException e) {
            throw new OnlineFailure("lost the connection to the clustermd daemon for array "
                    + ControlSockets.nameOf(socket) + " (" + e.getMessage() + "); see its log");
        } catch (ControlProtocolException e) {
            throw new OnlineFailure("the clustermd daemon for array " + ControlSockets.nameOf(socket)
                    + " answered something clusterctl does not understand: " + e.getMessage()
                    + " (are clusterctl and clustermd the same version?)");
        }
    }

    private String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            while (in.hasRemaining()) {
                byte b = in.get();
                if (b == '\n') {
                    return line.toString(StandardCharsets.UTF_8);
                }
                if (line.size() >= ControlCodec.MAX_RESPONSE_LINE) {
                    throw new IOException("response longer than " + ControlCodec.MAX_RESPONSE_LINE + " bytes");
                }
                line.write(b);
            }
            in.clear();
            int n = channel.read(in);
            in.flip();
            if (n < 0) {
                return null;
            }
        }
    }

    public Path socket() {
        return socket;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void closeQuietly(SocketChannel c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                // nothing to tell the user: the command's result is already known
            }
        }
    }
}
