package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;
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

    private final int maxPayload;
    private final IntFunction<ByteBuf> payloadAllocator;

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
        if (maxPayload <= 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: > 0)");
        }
        this.maxPayload = maxPayload;
        this.payloadAllocator = payloadAllocator;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            switch (state) {
                case HEADER -> {
                    if (in.readableBytes() < REQUEST_HEADER_SIZE) {
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
                    flags = in.getUnsignedShort(at + OFF_FLAGS);
                    type = in.getUnsignedShort(at + OFF_TYPE);
                    cookie = in.getLong(at + OFF_COOKIE);
                    offset = in.getLong(at + OFF_OFFSET);
                    length = in.getUnsignedInt(at + OFF_LENGTH);
                    in.skipBytes(REQUEST_HEADER_SIZE);
                    if (type != NBD_CMD_WRITE) {
                        out.add(NbdRequest.of(flags, type, cookie, offset, length));
                        continue;
                    }
                    if (length > maxPayload) {
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
