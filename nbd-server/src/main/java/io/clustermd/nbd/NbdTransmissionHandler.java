package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import io.clustermd.nbd.codec.NbdEncoding;
import io.clustermd.nbd.codec.NbdRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
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
 * <p>Flow control is {@link RequestAdmission}'s: a request is admitted before it is decoded and
 * holds its share of the connection's and the server's limits until its reply has been handed to
 * the socket, so replies queued for a client that does not read them keep counting. Replies
 * completed together are flushed with one write. A client that stops reading its replies is
 * dropped by {@link ReplyStallWatch}.
 *
 * <p>NBD_CMD_DISC stops reading, lets in-flight requests finish and closes. A server stop
 * ({@link #SHUTDOWN} event) answers requests already read with ESHUTDOWN, reads no more, waits for
 * in-flight ones and closes.
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
    private final RequestAdmission admission;
    private final RequestAdmission.ResumeTarget decoder;
    private final ReplyStallWatch stallWatch;

    private ChannelHandlerContext ctx;
    /** Requests at the backend (admitted requests whose replies are still queued are not counted). */
    private int inFlight;
    private boolean reading;
    private boolean flushPending;
    private boolean flushScheduled;
    private boolean disconnecting;
    private boolean shuttingDown;
    private boolean closing;
    private final Runnable flushTask = this::scheduledFlush;

    NbdTransmissionHandler(NbdSession session, RequestAdmission admission, RequestAdmission.ResumeTarget decoder,
                           ReplyStallWatch stallWatch) {
        this.session = session;
        this.backend = session.export.backend();
        this.admission = admission;
        this.decoder = decoder;
        this.stallWatch = stallWatch;
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
        long charge = admission.take();
        try {
            handle(r, charge);
        } catch (RuntimeException e) {
            r.release();
            admission.release(charge);
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

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (!ctx.channel().isWritable()) {
            stallWatch.watch();
        } else {
            admission.writable();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stallWatch.cancel();
        admission.channelClosed();
        ctx.fireChannelInactive();
    }

    private void handle(NbdRequest r, long charge) {
        if (disconnecting || !ctx.channel().isActive()) {
            // Nothing may follow NBD_CMD_DISC; a client that sends more anyway is ignored.
            r.release();
            admission.release(charge);
            return;
        }
        int type = r.type();
        if (type == NBD_CMD_DISC) {
            r.release();
            admission.release(charge);
            disconnecting = true;
            admission.close();
            ctx.channel().config().setAutoRead(false);
            closeIfDrained();
            return;
        }
        if (shuttingDown) {
            r.release();
            replyError(r, charge, NBD_ESHUTDOWN, "server is shutting down");
            return;
        }
        RequestValidator.Invalid invalid = RequestValidator.validate(r, session);
        if (invalid != null) {
            r.release();
            log.debug("{}: {}", ctx.channel().remoteAddress(), invalid.message());
            replyError(r, charge, invalid.errno(), invalid.message());
            return;
        }
        if (type == NBD_CMD_BLOCK_STATUS) {
            blockStatus(r, charge);
            return;
        }
        inFlight++;
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
            // A backend bug (even an Error, or direct memory exhausted) fails this request with EIO;
            // the connection goes on.
            f = CompletableFuture.failedFuture(e);
        }
        ByteBuf data = readBuf;
        EventLoop loop = ctx.channel().eventLoop();
        f.whenComplete((v, ex) -> {
            if (loop.inEventLoop()) {
                completeOrClose(r, charge, data, ex);
            } else {
                loop.execute(() -> completeOrClose(r, charge, data, ex));
            }
        });
    }

    /**
     * {@link #complete}, and if that throws, close the connection: a throw inside the future's
     * callback would be swallowed and leave the client waiting for a reply that never comes.
     */
    private void completeOrClose(NbdRequest r, long charge, ByteBuf data, Throwable ex) {
        try {
            complete(r, charge, data, ex);
        } catch (Throwable t) {
            logAndClose(ctx, t);
        }
    }

    /** On the event loop: the backend finished a request. */
    private void complete(NbdRequest r, long charge, ByteBuf data, Throwable ex) {
        inFlight--;
        r.release();
        if (!ctx.channel().isActive()) {
            if (data != null) {
                data.release();
            }
            admission.release(charge);
        } else if (ex == null) {
            if (data != null) {
                ByteBuf header = session.structuredReplies
                        ? NbdEncoding.offsetDataHeader(ctx.alloc(), r.cookie(), true, r.offset(), data.readableBytes())
                        : NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), NBD_SUCCESS);
                ctx.write(header, ctx.voidPromise());
                ctx.write(data).addListener(releasing(charge));
            } else {
                ctx.write(NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), NBD_SUCCESS)).addListener(releasing(charge));
            }
            requestFlush();
        } else {
            if (data != null) {
                data.release();
            }
            int errno = BackendException.errnoOf(ex);
            log.debug("{}: {} at {}+{} failed: {}", ctx.channel().remoteAddress(), commandName(r.type()),
                    r.offset(), r.length(), ex.toString());
            replyError(r, charge, errno, ex.getMessage());
        }
        closeIfDrained();
    }

    /** Gives a request's share back once its reply has left (or failed to, with the connection). */
    private ChannelFutureListener releasing(long charge) {
        return f -> admission.release(charge);
    }

    /** base:allocation without allocation knowledge: one extent, all data (flags 0). */
    private void blockStatus(NbdRequest r, long charge) {
        long len = Math.min(r.length(), backend.size() - r.offset());
        len = Math.min(len, 0xffffffffL & ~(backend.minimumBlockSize() - 1L));
        ctx.write(NbdEncoding.blockStatusChunk(ctx.alloc(), r.cookie(), true, BASE_ALLOCATION_ID,
                new long[] {len}, new int[] {0})).addListener(releasing(charge));
        requestFlush();
    }

    private void replyError(NbdRequest r, long charge, int errno, String message) {
        boolean structured = session.structuredReplies
                && (r.type() == NBD_CMD_READ || r.type() == NBD_CMD_BLOCK_STATUS);
        ByteBuf b = structured
                ? NbdEncoding.errorChunk(ctx.alloc(), r.cookie(), true, errno, message)
                : NbdEncoding.simpleReply(ctx.alloc(), r.cookie(), errno);
        ctx.write(b).addListener(releasing(charge));
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

    /** After DISC or a server stop: once the backend has answered everything, send the replies and close. */
    private void closeIfDrained() {
        if ((disconnecting || shuttingDown) && inFlight == 0 && !closing) {
            closing = true;
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == SHUTDOWN) {
            shuttingDown = true;
            admission.close();
            ctx.channel().config().setAutoRead(false);
            try {
                // Requests already read but held back by flow control are answered ESHUTDOWN.
                decoder.resume();
            } catch (Exception e) {
                logAndClose(ctx, e);
                return;
            }
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
        } else if (cause instanceof javax.net.ssl.SSLException || cause.getCause() instanceof javax.net.ssl.SSLException) {
            // A client without an acceptable certificate, or one that does not speak TLS after STARTTLS.
            Throwable tls = cause instanceof javax.net.ssl.SSLException ? cause : cause.getCause();
            log.info("{}: TLS failed: {}; closing the connection", ctx.channel().remoteAddress(), tls.getMessage());
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
