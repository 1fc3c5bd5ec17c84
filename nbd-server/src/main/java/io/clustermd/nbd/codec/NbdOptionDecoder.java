package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

import static io.clustermd.nbd.codec.NbdProtocol.NBD_OPTS_MAGIC;

/**
 * Decodes the client side of the fixed-newstyle handshake: the 4-byte client flags, then option
 * frames ({@code u64 IHAVEOPT, u32 option, u32 length, data}) into {@link NbdOption}s.
 *
 * <p>Option data up to {@code maxOptionLength} is handed on as a buffer; a longer option is skipped
 * without buffering (a client cannot make the server allocate what it announces). A frame without
 * IHAVEOPT loses framing: {@link NbdFramingException}, then everything is ignored.
 */
public final class NbdOptionDecoder extends ByteToMessageDecoder {

    // Byte offsets inside an option header.
    private static final int OFF_MAGIC = 0;   // u64 IHAVEOPT
    private static final int OFF_OPTION = 8;  // u32 option
    private static final int OFF_LENGTH = 12; // u32 length of the data that follows
    private static final int OPTION_HEADER_SIZE = 16;
    private static final int CLIENT_FLAGS_SIZE = 4;

    private enum State { CLIENT_FLAGS, HEADER, DATA, SKIP, BROKEN }

    private final int maxOptionLength;
    private State state;
    private int option;
    private long length;

    public NbdOptionDecoder(int maxOptionLength) {
        this(maxOptionLength, State.CLIENT_FLAGS);
    }

    private NbdOptionDecoder(int maxOptionLength, State state) {
        this.maxOptionLength = maxOptionLength;
        this.state = state;
    }

    /**
     * A decoder for the options that follow NBD_OPT_STARTTLS, inside TLS: the client flags were
     * read before it, in clear, so it starts at an option header.
     */
    public static NbdOptionDecoder afterStartTls(int maxOptionLength) {
        return new NbdOptionDecoder(maxOptionLength, State.HEADER);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            switch (state) {
                case CLIENT_FLAGS -> {
                    if (in.readableBytes() < CLIENT_FLAGS_SIZE) {
                        return;
                    }
                    out.add(new NbdOption.ClientFlags(in.readInt()));
                    state = State.HEADER;
                }
                case HEADER -> {
                    if (in.readableBytes() < OPTION_HEADER_SIZE) {
                        return;
                    }
                    int at = in.readerIndex();
                    long magic = in.getLong(at + OFF_MAGIC);
                    if (magic != NBD_OPTS_MAGIC) {
                        state = State.BROKEN;
                        in.skipBytes(in.readableBytes());
                        throw new NbdFramingException(String.format(
                                "bad option magic 0x%016x (expected IHAVEOPT 0x%016x): framing lost", magic, NBD_OPTS_MAGIC));
                    }
                    option = in.getInt(at + OFF_OPTION);
                    length = in.getUnsignedInt(at + OFF_LENGTH);
                    in.skipBytes(OPTION_HEADER_SIZE);
                    state = length > maxOptionLength ? State.SKIP : State.DATA;
                }
                case DATA -> {
                    if (in.readableBytes() < length) {
                        return;
                    }
                    out.add(new NbdOption.Option(option, in.readRetainedSlice((int) length), false));
                    state = State.HEADER;
                }
                case SKIP -> {
                    int n = (int) Math.min(length, in.readableBytes());
                    in.skipBytes(n);
                    length -= n;
                    if (length > 0) {
                        return;
                    }
                    out.add(new NbdOption.Option(option, null, true));
                    state = State.HEADER;
                }
                case BROKEN -> {
                    in.skipBytes(in.readableBytes());
                    return;
                }
            }
        }
    }
}
