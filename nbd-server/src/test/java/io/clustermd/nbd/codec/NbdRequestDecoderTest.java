package io.clustermd.nbd.codec;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.clustermd.nbd.ClientFrames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link NbdRequestDecoder} on an EmbeddedChannel: every command, every split, coalesced frames, bad input. */
class NbdRequestDecoderTest {

    private final List<ByteBuf> allocated = new ArrayList<>();

    private EmbeddedChannel channel(int maxPayload) {
        return new EmbeddedChannel(new NbdRequestDecoder(maxPayload, n -> {
            ByteBuf b = Unpooled.directBuffer(n, n);
            allocated.add(b);
            return b;
        }));
    }

    private static byte[] pattern(int n, int seed) {
        byte[] a = new byte[n];
        new Random(seed).nextBytes(a);
        return a;
    }

    @Test
    void decode_everyCommandType_yieldsHeaderFieldsExactly() {
        EmbeddedChannel ch = channel(1 << 20);
        int[] types = {NBD_CMD_READ, NBD_CMD_DISC, NBD_CMD_FLUSH, NBD_CMD_TRIM, NBD_CMD_CACHE, NBD_CMD_WRITE_ZEROES,
                NBD_CMD_BLOCK_STATUS, 99};
        for (int t : types) {
            ch.writeInbound(ClientFrames.request(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE, t, 0xfedcba9876543210L + t,
                    0x123456789aL, 0xfffffff0L, null));
            NbdRequest r = ch.readInbound();
            assertThat(r.type()).isEqualTo(t);
            assertThat(r.flags()).isEqualTo(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE);
            assertThat(r.cookie()).isEqualTo(0xfedcba9876543210L + t);
            assertThat(r.offset()).isEqualTo(0x123456789aL);
            assertThat(r.length()).isEqualTo(0xfffffff0L); // u32, not sign-extended
            assertThat(r.payload()).isNull();
        }
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void decode_whileAdmissionWaits_leavesRequestsUndecodedAndAllocatesNothingUntilResume() throws Exception {
        List<NbdRequestDecoder.Admission.Decision> answers = new ArrayList<>(List.of(
                NbdRequestDecoder.Admission.Decision.ADMIT, NbdRequestDecoder.Admission.Decision.WAIT));
        NbdRequestDecoder d = new NbdRequestDecoder(1 << 20, n -> {
            ByteBuf b = Unpooled.directBuffer(n, n);
            allocated.add(b);
            return b;
        }, (type, length) -> answers.isEmpty() ? NbdRequestDecoder.Admission.Decision.ADMIT : answers.remove(0));
        EmbeddedChannel ch = new EmbeddedChannel(d);
        ByteBuf two = Unpooled.wrappedBuffer(
                ClientFrames.bytes(ClientFrames.request(0, NBD_CMD_READ, 1, 0, 512, null)),
                ClientFrames.bytes(ClientFrames.request(0, NBD_CMD_WRITE, 2, 0, 4096, pattern(4096, 3))));
        ch.writeInbound(two);
        assertThat(((NbdRequest) ch.readInbound()).cookie()).isEqualTo(1);
        assertThat((Object) ch.readInbound()).isNull();
        assertThat(d.isWaiting()).isTrue();
        assertThat(allocated).isEmpty();
        d.resume();
        NbdRequest w = ch.readInbound();
        assertThat(w.cookie()).isEqualTo(2);
        assertThat(io.netty.buffer.ByteBufUtil.getBytes(w.payload())).isEqualTo(pattern(4096, 3));
        w.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void decode_skipPayload_takesTheWriteWithoutBufferingIt() {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdRequestDecoder(1 << 20, n -> {
            throw new AssertionError("no payload buffer may be allocated");
        }, (type, length) -> NbdRequestDecoder.Admission.Decision.SKIP_PAYLOAD));
        ch.writeInbound(ClientFrames.request(0, NBD_CMD_WRITE, 9, 0, 4096, pattern(4096, 4)));
        NbdRequest r = ch.readInbound();
        assertThat(r.cookie()).isEqualTo(9);
        assertThat(r.payloadDiscarded()).isTrue();
        assertThat(r.payload()).isNull();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void decode_writeSplitAtEveryByteBoundary_yieldsSameRequest() {
        byte[] payload = pattern(600, 1);
        byte[] frame = ClientFrames.bytes(ClientFrames.request(0, NBD_CMD_WRITE, 7, 4096, payload.length, payload));
        for (int split = 1; split < frame.length; split++) {
            EmbeddedChannel ch = channel(1 << 20);
            assertThat(ch.writeInbound(Unpooled.wrappedBuffer(frame, 0, split))).isFalse();
            assertThat(ch.writeInbound(Unpooled.wrappedBuffer(frame, split, frame.length - split))).isTrue();
            NbdRequest r = ch.readInbound();
            assertThat(r.cookie()).isEqualTo(7);
            assertThat(ClientFrames.bytes(r.payload().retain())).isEqualTo(payload);
            r.release();
            assertThat(r.payload().refCnt()).isZero();
            assertThat(ch.finish()).isFalse();
        }
    }

    @Test
    void decode_frameDeliveredOneByteAtATime_yieldsRequestsInOrder() {
        EmbeddedChannel ch = channel(1 << 20);
        ByteBuf all = Unpooled.buffer();
        all.writeBytes(ClientFrames.request(0, NBD_CMD_READ, 1, 0, 512, null));
        all.writeBytes(ClientFrames.request(0, NBD_CMD_WRITE, 2, 0, 3, new byte[] {1, 2, 3}));
        all.writeBytes(ClientFrames.request(0, NBD_CMD_FLUSH, 3, 0, 0, null));
        while (all.isReadable()) {
            ch.writeInbound(all.readRetainedSlice(1));
        }
        all.release();
        assertThat(((NbdRequest) ch.readInbound()).cookie()).isEqualTo(1);
        NbdRequest w = ch.readInbound();
        assertThat(w.cookie()).isEqualTo(2);
        assertThat(w.payload().readableBytes()).isEqualTo(3);
        w.release();
        assertThat(((NbdRequest) ch.readInbound()).cookie()).isEqualTo(3);
        assertThat((Object) ch.readInbound()).isNull();
        ch.finish();
    }

    @Test
    void decode_manyRequestsInOneBuffer_yieldsAllOfThem() {
        EmbeddedChannel ch = channel(1 << 20);
        ByteBuf all = Unpooled.buffer();
        for (int i = 0; i < 100; i++) {
            byte[] p = pattern(i, i);
            all.writeBytes(i % 2 == 0 ? ClientFrames.request(0, NBD_CMD_WRITE, i, i * 512L, p.length, p)
                    : ClientFrames.request(0, NBD_CMD_READ, i, i * 512L, 512, null));
        }
        ch.writeInbound(all);
        for (int i = 0; i < 100; i++) {
            NbdRequest r = ch.readInbound();
            assertThat(r.cookie()).isEqualTo(i);
            if (i % 2 == 0) {
                assertThat(ClientFrames.bytes(r.payload().retain())).isEqualTo(pattern(i, i));
                r.release();
            }
        }
        ch.finish();
    }

    @Test
    void decode_writeLongerThanMaxPayload_skipsPayloadAndKeepsFraming() {
        EmbeddedChannel ch = channel(4096);
        byte[] big = pattern(10_000, 3);
        ch.writeInbound(ClientFrames.request(0, NBD_CMD_WRITE, 1, 0, big.length, big));
        ch.writeInbound(ClientFrames.request(0, NBD_CMD_READ, 2, 0, 4096, null));
        NbdRequest w = ch.readInbound();
        assertThat(w.payloadDiscarded()).isTrue();
        assertThat(w.payload()).isNull();
        assertThat(w.length()).isEqualTo(10_000);
        assertThat(((NbdRequest) ch.readInbound()).cookie()).isEqualTo(2);
        assertThat(allocated).isEmpty();
        ch.finish();
    }

    @Test
    void decode_badMagic_throwsOnceThenIgnoresTheRest() {
        EmbeddedChannel ch = channel(4096);
        ByteBuf bad = ClientFrames.request(0, NBD_CMD_READ, 1, 0, 512, null);
        bad.setInt(0, 0x12345678);
        assertThatThrownBy(() -> ch.writeInbound(bad))
                .isInstanceOf(NbdFramingException.class)
                .hasMessageContaining("bad request magic 0x12345678");
        ch.writeInbound(ClientFrames.request(0, NBD_CMD_READ, 2, 0, 512, null));
        assertThat((Object) ch.readInbound()).isNull();
        ch.finish();
    }

    @Test
    void close_midPayload_releasesPartialBuffer() {
        EmbeddedChannel ch = channel(1 << 20);
        ByteBuf f = ClientFrames.request(0, NBD_CMD_WRITE, 1, 0, 1000, pattern(1000, 4));
        ch.writeInbound(f.retainedSlice(0, 500));
        f.release();
        assertThat(allocated).hasSize(1);
        ch.close();
        assertThat(allocated.get(0).refCnt()).isZero();
        assertThat((Object) ch.readInbound()).isNull();
    }

    @Test
    void decode_writeOfZeroLength_yieldsEmptyPayload() {
        EmbeddedChannel ch = channel(4096);
        ch.writeInbound(ClientFrames.request(0, NBD_CMD_WRITE, 9, 0, 0, null));
        NbdRequest r = ch.readInbound();
        assertThat(r.payload().readableBytes()).isZero();
        r.release();
        ch.finish();
    }
}
