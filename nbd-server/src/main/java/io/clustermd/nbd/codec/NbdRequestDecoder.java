package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;
import java.util.function.IntFunction;

import static io.clustermd.nbd.codec.NbdProtocol.NBD_CMD_WRITE;
import static io.clustermd.nbd.codec.NbdProtocol.NBD_REQUEST_MAGIC;
import static io.clustermd.nbd.codec.NbdProtocol.REQUEST_HEADER_SIZE;

/**
 * Decodes transmission-phase requests into {@link NbdRequest}s (the reading half of nbdkit's
 * {@code protocol_recv_request_send_reply}).
 *
 * <p>A WRITE's payload is copied once, as it arrives, straight into a buffer from
 * {@code payloadAllocator} (the backend's: for O_DIRECT that buffer is block-aligned), so a large
 * write is never accumulated in the socket's cumulation buffer first. A WRITE longer than
 * {@code maxPayload} is skipped byte by byte (framing is kept, nothing is buffered) and emitted with
 * {@code payloadDiscarded}, for the validator to refuse. A bad magic loses framing: the decoder
 * throws {@link NbdFramingException} once and ignores everything after it.
 *
 * <p>Before a request is taken off the input (and before its payload buffer is allocated) the
 * {@link Admission} decides: {@link Admission.Decision#ADMIT} goes on; {@link Admission.Decision#WAIT}
 * leaves the request and everything after it in the input, untouched, until {@link #resume()};
 * {@link Admission.Decision#SKIP_PAYLOAD} takes the request but skips a WRITE's payload instead of
 * buffering it (the request is emitted with {@code payloadDiscarded}). While waiting, the decoder
 * never asks the channel for more bytes, so memory held for the connection stays at what was read.
 */
public final class NbdRequestDecoder extends ByteToMessageDecoder {

    // Byte offsets inside the 28-byte request header (struct nbd_request).
    private static final int OFF_MAGIC = 0;   // u32 NBD_REQUEST_MAGIC
    private static final int OFF_FLAGS = 4;   // u16 command flags
    private static final int OFF_TYPE = 6;    // u16 command type
    private static final int OFF_COOKIE = 8;  // u64 cookie ("handle")
    private static final int OFF_OFFSET = 16; // u64 offset
    private static final int OFF_LENGTH = 24; // u32 length

    private enum State { HEADER, PAYLOAD, DISCARD, BROKEN }

    /** Decides, request by request, whether the decoder may take one more off the input. */
    @FunctionalInterface
    public interface Admission {
        /** What the decoder does with the request whose header it has just seen. */
        enum Decision { ADMIT, WAIT, SKIP_PAYLOAD }

        /** Called once per decoded header, in order; WAIT means it will be asked again after resume(). */
        Decision admit(int type, long length);

        /** Admits everything (for tests of the framing alone). */
        Admission ALWAYS = (type, length) -> Decision.ADMIT;
    }

    private final int maxPayload;
    private final IntFunction<ByteBuf> payloadAllocator;
    private final Admission admission;
    private ChannelHandlerContext ctx;
    private boolean waiting;

    private State state = State.HEADER;
    private int flags;
    private int type;
    private long cookie;
    private long offset;
    private long length;
    private ByteBuf payload;
    private long toDiscard;

    /**
     * @param maxPayload       largest WRITE payload that is buffered (the advertised maximum)
     * @param payloadAllocator allocates a buffer of exactly the given capacity for a WRITE payload
     */
    public NbdRequestDecoder(int maxPayload, IntFunction<ByteBuf> payloadAllocator) {
        this(maxPayload, payloadAllocator, Admission.ALWAYS);
    }

    /**
     * @param admission asked before each request is taken off the input
     */
    public NbdRequestDecoder(int maxPayload, IntFunction<ByteBuf> payloadAllocator, Admission admission) {
        if (maxPayload <= 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: > 0)");
        }
        this.maxPayload = maxPayload;
        this.payloadAllocator = payloadAllocator;
        this.admission = admission;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        this.ctx = ctx;
        super.handlerAdded(ctx);
    }

    /** Whether the admission said WAIT and {@link #resume()} has not been called since. */
    public boolean isWaiting() {
        return waiting;
    }

    /**
     * Decodes the input held since the admission said WAIT, asking it again; on the channel's event
     * loop. Emitted requests go down the pipeline as from a socket read, with a read-complete after.
     */
    public void resume() throws Exception {
        waiting = false;
        if (ctx == null || ctx.isRemoved()) {
            return;
        }
        // An empty read runs the decode loop over what is cumulated, without touching the socket.
        channelRead(ctx, Unpooled.EMPTY_BUFFER);
        channelReadComplete(ctx);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        if (waiting) {
            // ByteToMessageDecoder would ask for more bytes when a read produced no request and
            // auto-read is off; waiting for the admission must not read on.
            ctx.fireChannelReadComplete();
            return;
        }
        super.channelReadComplete(ctx);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            switch (state) {
                case HEADER -> {
                    if (in.readableBytes() < REQUEST_HEADER_SIZE) {
                        return;
                    }
                    if (waiting) {
                        return;
                    }
                    int at = in.readerIndex();
                    int magic = in.getInt(at + OFF_MAGIC);
                    if (magic != NBD_REQUEST_MAGIC) {
                        state = State.BROKEN;
                        in.skipBytes(in.readableBytes());
                        throw new NbdFramingException(String.format(
                                "bad request magic 0x%08x (expected 0x%08x): framing lost", magic, NBD_REQUEST_MAGIC));
                    }
                    int t = in.getUnsignedShort(at + OFF_TYPE);
                    long len = in.getUnsignedInt(at + OFF_LENGTH);
                    Admission.Decision d = admission.admit(t, len);
                    if (d == Admission.Decision.WAIT) {
                        waiting = true;
                        return;
                    }
                    flags = in.getUnsignedShort(at + OFF_FLAGS);
                    type = t;
                    cookie = in.getLong(at + OFF_COOKIE);
                    offset = in.getLong(at + OFF_OFFSET);
                    length = len;
                    in.skipBytes(REQUEST_HEADER_SIZE);
                    if (type != NBD_CMD_WRITE) {
                        out.add(NbdRequest.of(flags, type, cookie, offset, length));
                        continue;
                    }
                    if (length > maxPayload || d == Admission.Decision.SKIP_PAYLOAD) {
                        toDiscard = length;
                        state = State.DISCARD;
                        continue;
                    }
                    payload = payloadAllocator.apply((int) length);
                    state = State.PAYLOAD;
                }
                case PAYLOAD -> {
                    int want = payload.writableBytes();
                    int n = Math.min(want, in.readableBytes());
                    payload.writeBytes(in, n);
                    if (n < want) {
                        return;
                    }
                    ByteBuf done = payload;
                    payload = null;
                    state = State.HEADER;
                    out.add(new NbdRequest(flags, type, cookie, offset, length, done, false));
                }
                case DISCARD -> {
                    int n = (int) Math.min(toDiscard, in.readableBytes());
                    in.skipBytes(n);
                    toDiscard -= n;
                    if (toDiscard > 0) {
                        return;
                    }
                    state = State.HEADER;
                    out.add(new NbdRequest(flags, type, cookie, offset, length, null, true));
                }
                case BROKEN -> {
                    in.skipBytes(in.readableBytes());
                    return;
                }
            }
        }
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        releasePartial();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        super.channelInactive(ctx);
        releasePartial();
    }

    /** A client that hangs up in the middle of a WRITE payload leaves a half-filled buffer. */
    private void releasePartial() {
        if (payload != null) {
            payload.release();
            payload = null;
        }
        state = State.BROKEN;
    }
}
