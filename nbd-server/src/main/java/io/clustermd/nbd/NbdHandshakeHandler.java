package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import io.clustermd.nbd.codec.NbdEncoding;
import io.clustermd.nbd.codec.NbdFramingException;
import io.clustermd.nbd.codec.NbdOption;
import io.clustermd.nbd.codec.NbdOptionDecoder;
import io.clustermd.nbd.codec.NbdRequestDecoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.SslHandler;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed-newstyle handshake of one connection (nbdkit's {@code protocol-handshake-newstyle.c}):
 * sends the greeting, answers options, and on NBD_OPT_GO / NBD_OPT_EXPORT_NAME replaces itself and
 * the option decoder with the transmission phase. Unknown options get NBD_REP_ERR_UNSUP and the
 * handshake goes on.
 *
 * <p>With {@link NbdTls} the server is in the spec's FORCEDTLS mode: until the client has sent
 * NBD_OPT_STARTTLS, every option but STARTTLS and NBD_OPT_ABORT gets NBD_REP_ERR_TLS_REQD, and
 * NBD_OPT_EXPORT_NAME (which cannot be refused) closes the connection. STARTTLS is acknowledged in
 * clear, then an {@link SslHandler} goes in front of the pipeline and the negotiation goes on inside
 * TLS; a second STARTTLS gets NBD_REP_ERR_INVALID. Without it STARTTLS gets NBD_REP_ERR_UNSUP (NOTLS).
 */
final class NbdHandshakeHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdHandshakeHandler.class);

    static final String TLS = "tls";
    static final String OPTION_DECODER = "nbd-options";
    static final String HANDSHAKE = "nbd-handshake";
    static final String REQUEST_DECODER = "nbd-requests";
    static final String TRANSMISSION = "nbd-transmission";

    private static final int KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

    private final ExportRegistry exports;
    private final NbdServerConfig config;
    private final InFlightBudget budget;
    /** The server's TLS (FORCEDTLS mode), or null (NOTLS). */
    private final NbdTls tls;
    private final NbdSession session = new NbdSession();
    /** NBD_OPT_STARTTLS was acknowledged: everything since goes through TLS. */
    private boolean tlsStarted;
    /** The TLS handshake succeeded: options now come out of TLS. */
    private boolean tlsEstablished;
    private boolean gotClientFlags;
    private int optionCount;
    private boolean done;
    private ScheduledFuture<?> timeout;

    /** The exports a server offers. */
    interface ExportRegistry {
        /** The export for a name ("" = the default export), or null. */
        NbdExport find(String name);
        List<NbdExport> all();
        /** Whether the server is stopping: new sessions are refused. */
        default boolean stopping() { return false; }
    }

    NbdHandshakeHandler(ExportRegistry exports, NbdServerConfig config, InFlightBudget budget, NbdTls tls) {
        this.exports = exports;
        this.config = config;
        this.budget = budget;
        this.tls = tls;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.writeAndFlush(NbdEncoding.greeting(ctx.alloc(), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES));
        long ms = config.handshakeTimeout().toMillis();
        if (ms > 0) {
            timeout = ctx.executor().schedule(() -> {
                if (!done) {
                    log.info("{}: handshake not finished within {} ms; closing", ctx.channel().remoteAddress(), ms);
                    ctx.close();
                }
            }, ms, TimeUnit.MILLISECONDS);
        }
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimeout();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (done) {
            if (msg instanceof NbdOption.Option o) {
                o.release();
            } else {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
            return;
        }
        if (tlsStarted && !tlsEstablished) {
            // Before the TLS handshake is done, anything here was sent in clear after STARTTLS
            // without waiting for its ACK: options the decoder had already read with it, or the bytes
            // it still held when it was replaced. They must never pass for protected ones.
            log.info("{}: data sent in clear after NBD_OPT_STARTTLS, before its reply; closing",
                    ctx.channel().remoteAddress());
            if (msg instanceof NbdOption.Option o) {
                o.release();
            } else {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
            finish(ctx);
            ctx.close();
            return;
        }
        if (msg instanceof NbdOption.ClientFlags cf) {
            onClientFlags(ctx, cf.flags());
        } else if (msg instanceof NbdOption.Option o) {
            try {
                onOption(ctx, o);
            } finally {
                o.release();
            }
        } else {
            ctx.fireChannelRead(msg);
        }
    }

    private void onClientFlags(ChannelHandlerContext ctx, int flags) {
        gotClientFlags = true;
        if ((flags & ~KNOWN_CLIENT_FLAGS) != 0) {
            // The spec: a server MUST close when it sees client flags it does not know.
            log.info("{}: unknown client flags 0x{}; closing", ctx.channel().remoteAddress(), Integer.toHexString(flags));
            finish(ctx);
            ctx.close();
            return;
        }
        session.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) != 0;
    }

    private void onOption(ChannelHandlerContext ctx, NbdOption.Option o) {
        ByteBufAllocator alloc = ctx.alloc();
        int opt = o.option();
        if (++optionCount > config.maxOptions()) {
            log.info("{}: more than {} options; closing", ctx.channel().remoteAddress(), config.maxOptions());
            finish(ctx);
            ctx.close();
            return;
        }
        if (tls != null && !tlsStarted && opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT) {
            refuseWithoutTls(ctx, opt);
            return;
        }
        if (o.tooBig()) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_TOO_BIG,
                    optionName(opt) + ": option data longer than " + config.maxOptionLength() + " bytes"));
            return;
        }
        if (exports.stopping()) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_SHUTDOWN, "server is shutting down"));
            return;
        }
        ByteBuf data = o.data();
        switch (opt) {
            case NBD_OPT_EXPORT_NAME -> onExportName(ctx, data);
            case NBD_OPT_ABORT -> {
                finish(ctx);
                ctx.writeAndFlush(NbdEncoding.optionReply(alloc, opt, NBD_REP_ACK, new byte[0]))
                        .addListener(ChannelFutureListener.CLOSE);
            }
            case NBD_OPT_LIST -> {
                if (data.isReadable()) {
                    reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data"));
                    return;
                }
                for (NbdExport e : exports.all()) {
                    ctx.write(NbdEncoding.serverReply(alloc, e.name(), e.description()));
                }
                reply(ctx, NbdEncoding.optionReply(alloc, opt, NBD_REP_ACK, new byte[0]));
            }
            case NBD_OPT_INFO, NBD_OPT_GO -> onInfoOrGo(ctx, opt, data);
            case NBD_OPT_STRUCTURED_REPLY -> {
                if (data.isReadable()) {
                    reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data"));
                } else if (session.structuredReplies) {
                    reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, "structured replies already negotiated"));
                } else {
                    session.structuredReplies = true;
                    reply(ctx, NbdEncoding.optionReply(alloc, opt, NBD_REP_ACK, new byte[0]));
                }
            }
            case NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT -> onMetaContext(ctx, opt, data);
            case NBD_OPT_STARTTLS -> onStartTls(ctx, data);
            default -> reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_UNSUP,
                    optionName(opt) + " is not supported by this server"));
        }
    }

    /** FORCEDTLS: an option other than STARTTLS or ABORT before TLS. */
    private void refuseWithoutTls(ChannelHandlerContext ctx, int opt) {
        if (opt == NBD_OPT_EXPORT_NAME) {
            // It cannot be answered with an error: the spec says terminate the session.
            log.info("{}: NBD_OPT_EXPORT_NAME before NBD_OPT_STARTTLS on a server that requires TLS; closing",
                    ctx.channel().remoteAddress());
            finish(ctx);
            ctx.close();
            return;
        }
        reply(ctx, NbdEncoding.optionError(ctx.alloc(), opt, NBD_REP_ERR_TLS_REQD,
                "this server requires TLS: send NBD_OPT_STARTTLS first (" + optionName(opt) + " refused)"));
    }

    private void onStartTls(ChannelHandlerContext ctx, ByteBuf data) {
        ByteBufAllocator alloc = ctx.alloc();
        if (tls == null) {
            reply(ctx, NbdEncoding.optionError(alloc, NBD_OPT_STARTTLS, NBD_REP_ERR_UNSUP,
                    "NBD_OPT_STARTTLS: this server is not configured for TLS"));
            return;
        }
        if (tlsStarted) {
            reply(ctx, NbdEncoding.optionError(alloc, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                    "NBD_OPT_STARTTLS: TLS is already negotiated"));
            return;
        }
        if (data.isReadable()) {
            reply(ctx, NbdEncoding.optionError(alloc, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                    "NBD_OPT_STARTTLS takes no data"));
            return;
        }
        tlsStarted = true;
        // On the event loop writeAndFlush has taken the ACK past every handler when it returns, so
        // the SslHandler added next encrypts only what follows it. Nothing is read in between: this
        // runs inside the option decoder's read, and the handler is in place before the next one.
        ctx.writeAndFlush(NbdEncoding.optionReply(alloc, NBD_OPT_STARTTLS, NBD_REP_ACK, new byte[0]));
        ChannelPipeline p = ctx.pipeline();
        SslHandler ssl = tls.newHandler(alloc);
        ssl.handshakeFuture().addListener(f -> {
            if (f.isSuccess()) {
                tlsEstablished = true;
                log.debug("{}: TLS {} {}", ctx.channel().remoteAddress(), ssl.engine().getSession().getProtocol(),
                        ssl.engine().getSession().getCipherSuite());
            }
        });
        p.addFirst(TLS, ssl);
        // A fresh decoder behind TLS; the old one hands what it still holds (clear bytes sent after
        // STARTTLS) to channelRead, which drops the connection, as it does options decoded with STARTTLS.
        p.replace(OPTION_DECODER, OPTION_DECODER, NbdOptionDecoder.afterStartTls(config.maxOptionLength()));
    }

    private void onExportName(ChannelHandlerContext ctx, ByteBuf data) {
        if (data.readableBytes() > MAX_STRING_LENGTH) {
            log.info("{}: NBD_OPT_EXPORT_NAME longer than 4096 bytes; closing", ctx.channel().remoteAddress());
            finish(ctx);
            ctx.close();
            return;
        }
        String name = data.toString(StandardCharsets.UTF_8);
        NbdExport e = exports.find(name);
        if (e == null) {
            // No way to send an error for EXPORT_NAME: the spec says just close.
            log.info("{}: NBD_OPT_EXPORT_NAME: no export named '{}'; closing", ctx.channel().remoteAddress(), name);
            finish(ctx);
            ctx.close();
            return;
        }
        session.export = e;
        session.transmissionFlags = e.transmissionFlags();
        ctx.write(NbdEncoding.exportNameReply(ctx.alloc(), e.backend().size(), session.transmissionFlags, session.noZeroes));
        enterTransmission(ctx);
    }

    private void onInfoOrGo(ChannelHandlerContext ctx, int opt, ByteBuf data) {
        ByteBufAllocator alloc = ctx.alloc();
        // u32 name length, name, u16 number of info requests, u16 requests...
        if (data.readableBytes() < 6) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, optionName(opt) + ": data too short"));
            return;
        }
        long nameLen = data.readUnsignedInt();
        if (nameLen > MAX_STRING_LENGTH || nameLen + 2 > data.readableBytes()) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, optionName(opt) + ": bad export name length " + nameLen));
            return;
        }
        String name = data.readCharSequence((int) nameLen, StandardCharsets.UTF_8).toString();
        int n = data.readUnsignedShort();
        if (data.readableBytes() != 2 * n) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID,
                    optionName(opt) + ": " + n + " information requests announced, " + data.readableBytes() + " bytes follow"));
            return;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < n; i++) {
            switch (data.readUnsignedShort()) {
                case NBD_INFO_NAME -> wantName = true;
                case NBD_INFO_DESCRIPTION -> wantDescription = true;
                case NBD_INFO_BLOCK_SIZE -> { } // always sent; every client is held to it
                default -> { } // unknown info requests are ignored, as the spec says
            }
        }
        NbdExport e = exports.find(name);
        if (e == null) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_UNKNOWN, "no export named '" + name + "'"));
            return;
        }
        BlockBackend b = e.backend();
        int flags = e.transmissionFlags();
        ctx.write(NbdEncoding.infoExport(alloc, opt, b.size(), flags));
        if (wantName) {
            ctx.write(NbdEncoding.infoString(alloc, opt, NBD_INFO_NAME, e.name()));
        }
        if (wantDescription && e.description() != null) {
            ctx.write(NbdEncoding.infoString(alloc, opt, NBD_INFO_DESCRIPTION, e.description()));
        }
        // Sent even when not requested: clients that did not ask may ignore it.
        ctx.write(NbdEncoding.infoBlockSize(alloc, opt, b.minimumBlockSize(), b.preferredBlockSize(), b.maximumPayload()));
        ctx.write(NbdEncoding.optionReply(alloc, opt, NBD_REP_ACK, new byte[0]));
        if (opt == NBD_OPT_GO) {
            session.export = e;
            session.transmissionFlags = flags;
            enterTransmission(ctx);
        } else {
            ctx.flush();
        }
    }

    private void onMetaContext(ChannelHandlerContext ctx, int opt, ByteBuf data) {
        ByteBufAllocator alloc = ctx.alloc();
        if (opt == NBD_OPT_SET_META_CONTEXT && !session.structuredReplies) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID,
                    "NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first"));
            return;
        }
        // u32 export name length, name, u32 number of queries, (u32 length, query)*
        String name;
        List<String> queries = new ArrayList<>();
        try {
            long nameLen = data.readUnsignedInt();
            if (nameLen > MAX_STRING_LENGTH || nameLen > data.readableBytes()) {
                throw new IllegalArgumentException("bad export name length " + nameLen);
            }
            name = data.readCharSequence((int) nameLen, StandardCharsets.UTF_8).toString();
            long nq = data.readUnsignedInt();
            for (long i = 0; i < nq; i++) {
                long ql = data.readUnsignedInt();
                if (ql > MAX_STRING_LENGTH || ql > data.readableBytes()) {
                    throw new IllegalArgumentException("bad query length " + ql);
                }
                queries.add(data.readCharSequence((int) ql, StandardCharsets.UTF_8).toString());
            }
            if (data.isReadable()) {
                throw new IllegalArgumentException(data.readableBytes() + " bytes after the last query");
            }
        } catch (IndexOutOfBoundsException | IllegalArgumentException ex) {
            String why = ex instanceof IllegalArgumentException ? ex.getMessage() : "data too short";
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_INVALID, optionName(opt) + ": " + why));
            return;
        }
        if (exports.find(name) == null) {
            reply(ctx, NbdEncoding.optionError(alloc, opt, NBD_REP_ERR_UNKNOWN, "no export named '" + name + "'"));
            return;
        }
        boolean selected = false;
        if (opt == NBD_OPT_LIST_META_CONTEXT && queries.isEmpty()) {
            queries.add(BASE_ALLOCATION);
        }
        for (String q : queries) {
            boolean match = q.equals(BASE_ALLOCATION) || (opt == NBD_OPT_LIST_META_CONTEXT && q.equals("base:"));
            if (match && !selected) {
                selected = true;
                ctx.write(NbdEncoding.metaContext(alloc, opt, BASE_ALLOCATION_ID, BASE_ALLOCATION));
            }
        }
        if (opt == NBD_OPT_SET_META_CONTEXT) {
            session.baseAllocation = selected;
        }
        reply(ctx, NbdEncoding.optionReply(alloc, opt, NBD_REP_ACK, new byte[0]));
    }

    private void enterTransmission(ChannelHandlerContext ctx) {
        finish(ctx);
        ctx.flush();
        BlockBackend backend = session.export.backend();
        ChannelPipeline p = ctx.pipeline();
        // The decoder asks the admission before it takes each request; the admission resumes it.
        RequestAdmission.ResumeTarget decoder = () -> {
            if (p.get(REQUEST_DECODER) instanceof NbdRequestDecoder d) {
                d.resume();
            }
        };
        ReplyStallWatch stallWatch = new ReplyStallWatch(ctx.channel(), config.replyStallTimeout());
        RequestAdmission admission = new RequestAdmission(ctx.channel(), budget, config, backend.maximumPayload(), decoder,
                stallWatch);
        p.addAfter(OPTION_DECODER, REQUEST_DECODER,
                new NbdRequestDecoder(backend.maximumPayload(), backend::allocateBuffer, admission));
        p.replace(this, TRANSMISSION, new NbdTransmissionHandler(session, admission, decoder, stallWatch));
        // Removing the option decoder hands any bytes it still holds to the request decoder.
        p.remove(OPTION_DECODER);
    }

    private void finish(ChannelHandlerContext ctx) {
        done = true;
        cancelTimeout();
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }

    private static void reply(ChannelHandlerContext ctx, ByteBuf b) {
        ctx.writeAndFlush(b);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == NbdTransmissionHandler.SHUTDOWN) {
            finish(ctx);
            ctx.close();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        NbdTransmissionHandler.logAndClose(ctx, cause);
    }

    /** For messages: whether the client ever sent its flags. */
    boolean gotClientFlags() {
        return gotClientFlags;
    }

    static boolean isFraming(Throwable t) {
        return t instanceof NbdFramingException || t.getCause() instanceof NbdFramingException;
    }
}
