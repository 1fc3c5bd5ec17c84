package io.clustermd.nbd.codec;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.nbd.ClientFrames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/** {@link NbdOptionDecoder} on an EmbeddedChannel. */
class NbdOptionDecoderTest {

    private static byte[] handshake() {
        ByteBuf b = Unpooled.buffer();
        b.writeBytes(ClientFrames.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
        b.writeBytes(ClientFrames.option(NBD_OPT_STRUCTURED_REPLY, new byte[0]));
        b.writeBytes(ClientFrames.option(NBD_OPT_GO, ClientFrames.goData("disk", NBD_INFO_BLOCK_SIZE)));
        return ClientFrames.bytes(b);
    }

    private static void assertHandshake(EmbeddedChannel ch) {
        assertThat((NbdOption.ClientFlags) ch.readInbound()).isEqualTo(new NbdOption.ClientFlags(3));
        NbdOption.Option sr = ch.readInbound();
        assertThat(sr.option()).isEqualTo(NBD_OPT_STRUCTURED_REPLY);
        assertThat(sr.data().readableBytes()).isZero();
        sr.release();
        NbdOption.Option go = ch.readInbound();
        assertThat(go.option()).isEqualTo(NBD_OPT_GO);
        assertThat(ClientFrames.bytes(go.data().retain())).isEqualTo(ClientFrames.goData("disk", NBD_INFO_BLOCK_SIZE));
        go.release();
        assertThat((Object) ch.readInbound()).isNull();
    }

    @Test
    void decode_handshakeSplitAtEveryByteBoundary_yieldsSameMessages() {
        byte[] all = handshake();
        for (int split = 1; split < all.length; split++) {
            EmbeddedChannel ch = new EmbeddedChannel(new NbdOptionDecoder(65536));
            ch.writeInbound(Unpooled.wrappedBuffer(all, 0, split));
            ch.writeInbound(Unpooled.wrappedBuffer(all, split, all.length - split));
            assertHandshake(ch);
            assertThat(ch.finish()).isFalse();
        }
    }

    @Test
    void decode_handshakeInOneBuffer_yieldsAllMessages() {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdOptionDecoder(65536));
        ch.writeInbound(Unpooled.wrappedBuffer(handshake()));
        assertHandshake(ch);
        ch.finish();
    }

    @Test
    void decode_optionLongerThanLimit_isSkippedAndMarkedTooBig() {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdOptionDecoder(4112));
        ch.writeInbound(ClientFrames.clientFlags(1));
        ch.writeInbound(ClientFrames.option(NBD_OPT_GO, new byte[100_000]));
        ch.writeInbound(ClientFrames.option(NBD_OPT_ABORT, new byte[0]));
        ch.readInbound();
        NbdOption.Option big = ch.readInbound();
        assertThat(big.tooBig()).isTrue();
        assertThat(big.data()).isNull();
        NbdOption.Option abort = ch.readInbound();
        assertThat(abort.option()).isEqualTo(NBD_OPT_ABORT);
        abort.release();
        ch.finish();
    }

    @Test
    void decode_optionWithoutIhaveopt_throwsFramingError() {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdOptionDecoder(65536));
        ch.writeInbound(ClientFrames.clientFlags(1));
        ch.readInbound();
        ByteBuf bad = ClientFrames.option(NBD_OPT_GO, new byte[4]);
        bad.setLong(0, 0x1122334455667788L);
        assertThatThrownBy(() -> ch.writeInbound(bad)).isInstanceOf(NbdFramingException.class)
                .hasMessageContaining("IHAVEOPT");
        ch.finish();
    }
}
