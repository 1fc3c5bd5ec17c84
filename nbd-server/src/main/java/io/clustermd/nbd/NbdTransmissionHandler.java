package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import io.clustermd.nbd.codec.NbdEncoding;
import io.clustermd.nbd.codec.NbdRequest;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transmission phase of one connection (nbdkit's {@code protocol.c} request loop): validates each
 * request in one place, hands it to the backend, and writes the reply when the backend's future
 * completes — on whatever thread — so replies go out in completion order, not request order.
 *
 * <p>Backpressure: at {@code maxInFlight} outstanding requests the socket stops being read until
 * half of them have been answered. Replies completed together are flushed with one write.
 *
 * <p>NBD_CMD_DISC stops reading, lets in-flight requests finish and closes. A server stop
 * ({@link #SHUTDOWN} event) answers new requests with ESHUTDOWN, waits for in-flight ones, closes.
 */
final class NbdTransmissionHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdTransmissionHandler.class);

    /** User event: the server is stopping. */
    static final Object SHUTDOWN = new Object() {
        @Override
        public String toString() {
            return "NBD_SERVER_SHUTDOWN";
        }
    };

    private final NbdSession session;
    private final BlockBackend backend;
    private final int maxInFlight;
    private final int resumeBelow;

    private ChannelHandlerContext ctx;
    private int inFlight;
    private boolean reading;
    private boolean flushPending;
    private boolean flushScheduled;
    private boolean paused;
    private boolean disconnecting;
    private boolean shuttingDown;
    private final Runnable flushTask = this::scheduledFlush;

    NbdTransmissionHandler(NbdSession session, NbdServerConfig config) {
        this.session = session;
        this.backend = session.export.backend();
        this.maxInFlight = config.maxInFlight();
        this.resumeBelow = Math.max(1, maxInFlight / 2);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof NbdRequest r)) {
            ctx.fireChannelRead(msg);
            return;
        }
        reading = true;
        try {
            handle(r);
        } catch (RuntimeException e) {
            r.release();
            throw e;
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        reading = false;
        if (flushPending) {
            flushPending = false;
            ctx.flush();
        }
        ctx.fireChannelReadComplete();
    }

    private void handle(NbdRequest r) {
        if (disconnecting) {
            // Nothing may follow NBD_CMD_DISC; a client that sends more anyway is ignored.
            r.release();
            return;
        }
        int type = r.type();
        if (type == NBD_CMD_DISC) {
            r.release();
            disconnecting = true;
            ctx.channel().config().setAutoRead(false);
            closeIfDrained();
            return;
        }
        if (shuttingDown) {
            r.release();
            replyError(r, NBD_ESHUTDOWN, "server is shutting down");
            return;
        }
        RequestValidator.Invalid invalid = RequestValidator.validate(r, session);
        if (invalid != null) {
            r.release();
            log.debug("{}: {}", ctx.channel().remoteAddress(), invalid.message());
            replyError(r, invalid.errno(), invalid.message());
            return;
        }
        if (type == NBD_CMD_BLOCK_STATUS) {
            blockStatus(r);
            return;
        }
        if (++inFlight >= maxInFlight && !paused) {
            paused = true;
            ctx.channel().config().setAutoRead(false);
        }
        int fua = (r.flags() & NBD_CMD_FLAG_FUA) != 0 ? BlockBackend.FLAG_FUA : 0;
        ByteBuf readBuf = null;
        CompletableFuture<Void> f;
        try {
            switch (type) {
                case NBD_CMD_READ -> {
                    readBuf = backend.allocateBuffer((int) r.length());
                    f = backend.pread(readBuf, r.offset(), (int) r.length(), 0);
                }
                case NBD_CMD_WRITE -> f = backend.pwrite(r.payload(), r.offset(), fua);
                case NBD_CMD_FLUSH -> f = backend.flush(0);
                case NBD_CMD_TRIM -> f = backend.trim(r.offset(), r.length(), fua);
                case NBD_CMD_WRITE_ZEROES -> {
                    int zf = fua;
                    if ((r.flags() & NBD_CMD_FLAG_NO_HOLE) == 0) {
                        zf |= BlockBackend.FLAG_MAY_TRIM;
                    }
                    if ((r.flags() & NBD_CMD_FLAG_FAST_ZERO) != 0) {
                        zf |= BlockBackend.FLAG_FAST_ZERO;
                    }
                    f = backend.zero(r.offset(), r.length(), zf);
                }
                case NBD_CMD_CACHE -> f = backend.cache(r.offset(), r.length(), 0);
                default -> throw new IllegalStateException("validated command " + type);
            }
            if (f == null) {
                f = CompletableFuture.failedFuture(new IllegalStateException("backend returned no future"));
            }
        } catch (RuntimeException | Error e) {
            // A backend bug (even an Error) fails this request with EIO; the connection goes on.
            f = CompletableFuture.failedFuture(e);
        }
        ByteBuf data = readBuf;
        EventLoop loop = ctx.channel().eventLoop();
        f.whenComplete((v, ex) -> {
            if (loop.inEventLoop()) {
                completeOrClose(r, data, ex);
            } else {
                loop.execute(() -> completeOrClose(r, data, ex));
            }
        });
    }

    /**
     * {@link #complete}, and if that throws, close the connection: a throw inside the future's
     * callback would be swallowed and leave the client waiting for a reply that never comes.
     */
    private void completeOrClose(NbdRequest r, ByteBuf data, Throwable ex) {
        try {
            complete(r, data, ex);
        } catch (Throwable t) {
            logAndClose(ctx, t);
        }
    }

    /** On the event loop: the backend finished a request. */
    private void complete(NbdRequest r, ByteBuf data, Throwable ex) {
        inFlight--;
        r.release();
        if (!ctx.channel().isActive()) {
            if (data != null) {
                data.release();
            }
        } else if (ex == null) {
            if (data != null) {
                ByteBuf header = session.structuredReplies
                        ? NbdEncoding.offsetDataHeader(ctx.alloc(), r.cookie(), true, r.offset(), data.readableBytes())
                        : NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), NBD_SUCCESS);
                ctx.write(header, ctx.voidPromise());
                ctx.write(data, ctx.voidPromise());
            } else {
                ctx.write(NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), NBD_SUCCESS), ctx.voidPromise());
            }
            requestFlush();
        } else {
            if (data != null) {
                data.release();
            }
            int errno = BackendException.errnoOf(ex);
            log.debug("{}: {} at {}+{} failed: {}", ctx.channel().remoteAddress(), commandName(r.type()),
                    r.offset(), r.length(), ex.toString());
            replyError(r, errno, ex.getMessage());
        }
        if (paused && inFlight < resumeBelow && !disconnecting) {
            paused = false;
            ctx.channel().config().setAutoRead(true);
        }
        closeIfDrained();
    }

    /** base:allocation without allocation knowledge: one extent, all data (flags 0). */
    private void blockStatus(NbdRequest r) {
        long len = Math.min(r.length(), backend.size() - r.offset());
        len = Math.min(len, 0xffffffffL & ~(backend.minimumBlockSize() - 1L));
        ctx.write(NbdEncoding.blockStatusChunk(ctx.alloc(), r.cookie(), true, BASE_ALLOCATION_ID,
                new long[] {len}, new int[] {0}), ctx.voidPromise());
        requestFlush();
    }

    private void replyError(NbdRequest r, int errno, String message) {
        boolean structured = session.structuredReplies
                && (r.type() == NBD_CMD_READ || r.type() == NBD_CMD_BLOCK_STATUS);
        ByteBuf b = structured
                ? NbdEncoding.errorChunk(ctx.alloc(), r.cookie(), true, errno, message)
                : NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), errno);
        ctx.write(b, ctx.voidPromise());
        requestFlush();
    }

    private void requestFlush() {
        if (reading) {
            flushPending = true;
        } else if (!flushScheduled) {
            // Completions that arrive together are queued on the loop before this task: one flush.
            flushScheduled = true;
            ctx.executor().execute(flushTask);
        }
    }

    private void scheduledFlush() {
        flushScheduled = false;
        ctx.flush();
    }

    private void closeIfDrained() {
        if ((disconnecting || shuttingDown) && inFlight == 0) {
            ctx.flush();
            ctx.close();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == SHUTDOWN) {
            shuttingDown = true;
            closeIfDrained();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        logAndClose(ctx, cause);
    }

    static void logAndClose(ChannelHandlerContext ctx, Throwable cause) {
        if (NbdHandshakeHandler.isFraming(cause)) {
            log.warn("{}: {}; closing the connection", ctx.channel().remoteAddress(),
                    cause.getCause() != null ? cause.getCause().getMessage() : cause.getMessage());
        } else if (cause instanceof IOException) {
            log.debug("{}: {}", ctx.channel().remoteAddress(), cause.toString());
        } else {
            log.warn("{}: unexpected error; closing the connection", ctx.channel().remoteAddress(), cause);
        }
        ctx.close();
    }

    /** For tests. */
    int inFlight() {
        return inFlight;
    }

    static EventExecutor executorOf(ChannelHandlerContext ctx) {
        return ctx.executor();
    }
}
