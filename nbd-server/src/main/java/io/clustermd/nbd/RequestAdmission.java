package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.NBD_CMD_READ;
import static io.clustermd.nbd.codec.NbdProtocol.NBD_CMD_WRITE;

import io.clustermd.nbd.codec.NbdRequestDecoder;
import io.clustermd.nbd.file.AlignedBufferPool;
import io.netty.channel.Channel;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Flow control of one connection: decides, before the decoder takes a request off the socket's
 * input, whether the connection may have one more in flight (the part of nbdkit's
 * {@code protocol_recv_request_send_reply} loop that its thread model does with blocking reads).
 *
 * <p>A request is admitted when the connection is under its limits (or has nothing in flight, so a
 * request larger than the byte limit is served alone), its channel is writable (the client reads its
 * replies), and the server-wide {@link InFlightBudget} has room. Otherwise the connection pauses:
 * auto-read goes off, the request stays undecoded in the input, and reading resumes only when what
 * it waits for has changed and all that input has been decoded. Nothing here blocks or sleeps.
 *
 * <p>Every admitted request holds one request and its charge ({@link #chargeOf}) until
 * {@link #release} — when its reply has been handed to the socket, or dropped with the connection.
 * After {@link #close()} (server stop, NBD_CMD_DISC) nothing more is admitted: requests are taken
 * uncharged and WRITE payloads skipped, so they can be answered ESHUTDOWN or ignored.
 *
 * <p>All methods but {@link #wake()} run on the channel's event loop.
 */
final class RequestAdmission implements NbdRequestDecoder.Admission, InFlightBudget.Waiter {

    /** Charge of a request taken after {@link #close()}: it holds nothing. */
    static final long UNCHARGED = -1;

    /** Why reading is paused. */
    enum Pause { NONE, CONNECTION, UNWRITABLE, SERVER }

    private final Channel channel;
    private final InFlightBudget server;
    private final int maxRequests;
    private final long maxBytes;
    private final int maxPayload;
    private final ResumeTarget target;
    private final ReplyStallWatch stallWatch;
    private final ArrayDeque<Long> charges = new ArrayDeque<>();
    private final AtomicBoolean wakePosted = new AtomicBoolean();
    private final Runnable resumeTask = this::resume;
    private int requests;
    private long bytes;
    private Pause pause = Pause.NONE;
    private boolean closed;

    /** What the admission drives: the decoder that holds the undecoded input. */
    interface ResumeTarget {
        /** Decodes the input held since the admission said WAIT. */
        void resume() throws Exception;
    }

    RequestAdmission(Channel channel, InFlightBudget server, NbdServerConfig config, int maxPayload,
                     ResumeTarget target, ReplyStallWatch stallWatch) {
        this.stallWatch = stallWatch;
        this.channel = channel;
        this.server = server;
        this.maxRequests = config.maxInFlight();
        this.maxBytes = config.maxInFlightBytes();
        this.maxPayload = maxPayload;
        this.target = target;
    }

    /** The buffer memory a request holds while in flight: a READ's or WRITE's aligned buffer. */
    long chargeOf(int type, long length) {
        return (type == NBD_CMD_READ || type == NBD_CMD_WRITE) && length <= maxPayload && length > 0
                ? AlignedBufferPool.footprint(length) : 0;
    }

    @Override
    public Decision admit(int type, long length) {
        if (closed) {
            charges.addLast(UNCHARGED);
            return Decision.SKIP_PAYLOAD;
        }
        if (pause != Pause.NONE) {
            return Decision.WAIT;
        }
        long charge = chargeOf(type, length);
        if (!channel.isWritable()) {
            return pause(Pause.UNWRITABLE);
        }
        if (requests >= maxRequests || requests > 0 && bytes + charge > maxBytes) {
            return pause(Pause.CONNECTION);
        }
        if (!server.tryAcquire(this, charge)) {
            return pause(Pause.SERVER);
        }
        requests++;
        bytes += charge;
        charges.addLast(charge);
        return Decision.ADMIT;
    }

    private Decision pause(Pause why) {
        pause = why;
        if (why != Pause.SERVER) {
            server.forget(this); // waiting for something else: do not hold up the server's queue
        }
        channel.config().setAutoRead(false);
        // A client that stopped reading shows here: it is paused with replies queued that do not move.
        stallWatch.watch();
        return Decision.WAIT;
    }

    /** The charge of the next request the decoder emitted (requests reach the handler in decode order). */
    long take() {
        Long c = charges.pollFirst();
        if (c == null) {
            throw new IllegalStateException("a request reached the handler without passing admission");
        }
        return c;
    }

    /** A request's reply left (or the connection went): give back what it held. */
    void release(long charge) {
        if (charge == UNCHARGED) {
            return;
        }
        requests--;
        bytes -= charge;
        server.release(charge);
        if (pause == Pause.CONNECTION
                && (requests == 0 || requests <= maxRequests / 2 && bytes <= maxBytes / 2)) {
            postResume();
        }
    }

    /** The channel became writable again. */
    void writable() {
        if (pause == Pause.UNWRITABLE) {
            postResume();
        }
    }

    /** The server budget may have room: called from any thread. */
    @Override
    public void wake() {
        if (wakePosted.compareAndSet(false, true)) {
            try {
                channel.eventLoop().execute(() -> {
                    wakePosted.set(false);
                    if (pause == Pause.SERVER) {
                        resume();
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // Its event loop is shutting down: the connection is going away with it.
            }
        }
    }

    private void postResume() {
        // Not inline: release runs inside write listeners and flushes; decoding there would nest.
        channel.eventLoop().execute(resumeTask);
    }

    /** Decodes what is held, and reads on only if all of it could be admitted. */
    private void resume() {
        if (closed || pause == Pause.NONE || !channel.isActive()) {
            return;
        }
        pause = Pause.NONE;
        try {
            target.resume();
        } catch (Exception e) {
            channel.pipeline().fireExceptionCaught(e);
            return;
        }
        if (pause == Pause.NONE && !closed) {
            channel.config().setAutoRead(true);
        }
    }

    /**
     * Admits nothing more (server stop or NBD_CMD_DISC); input already read is still decoded so its
     * requests can be answered, without buffering their payloads.
     */
    void close() {
        closed = true;
        pause = Pause.NONE;
        server.forget(this);
    }

    /**
     * The connection is gone: leave the server's queue and give back what requests admitted but
     * never handed on (a WRITE whose payload did not arrive) held.
     */
    void channelClosed() {
        closed = true;
        server.forget(this);
        for (Long c; (c = charges.pollFirst()) != null; ) {
            release(c);
        }
    }

    Pause pause() {
        return pause;
    }

    int requests() {
        return requests;
    }

    long bytes() {
        return bytes;
    }
}
