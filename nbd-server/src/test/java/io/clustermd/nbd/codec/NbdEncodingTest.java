package io.clustermd.nbd.codec;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.nbd.ClientFrames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import org.junit.jupiter.api.Test;

/** Every server message of {@link NbdEncoding}, compared with the spec's byte layout. */
class NbdEncodingTest {
    private static final ByteBufAllocator A = UnpooledByteBufAllocator.DEFAULT;

    private static String hex(ByteBuf b) {
        return ByteBufUtil.hexDump(ClientFrames.bytes(b));
    }

    @Test
    void greeting_isMagicIhaveoptAndFlags() {
        assertThat(hex(NbdEncoding.greeting(A, 3))).isEqualTo("4e42444d41474943" + "49484156454f5054" + "0003");
    }

    @Test
    void optionReply_ack_hasReplyMagicOptionTypeAndZeroLength() {
        assertThat(hex(NbdEncoding.optionReply(A, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, new byte[0])))
                .isEqualTo("0003e889045565a9" + "00000008" + "00000001" + "00000000");
    }

    @Test
    void optionError_carriesTypeWithBit31AndMessage() {
        assertThat(hex(NbdEncoding.optionError(A, 42, NBD_REP_ERR_UNSUP, "no")))
                .isEqualTo("0003e889045565a9" + "0000002a" + "80000001" + "00000002" + "6e6f");
    }

    @Test
    void serverReply_hasNameLengthNameAndDescription() {
        assertThat(hex(NbdEncoding.serverReply(A, "ab", "c")))
                .isEqualTo("0003e889045565a9" + "00000003" + "00000002" + "00000007" + "00000002" + "6162" + "63");
    }

    @Test
    void infoExport_isTypeSizeAndFlags() {
        assertThat(hex(NbdEncoding.infoExport(A, NBD_OPT_GO, 0x0102030405060708L, 0x1234)))
                .isEqualTo("0003e889045565a9" + "00000007" + "00000003" + "0000000c" + "0000" + "0102030405060708" + "1234");
    }

    @Test
    void infoBlockSize_isTypeMinPreferredMax() {
        assertThat(hex(NbdEncoding.infoBlockSize(A, NBD_OPT_INFO, 512, 4096, 1 << 25)))
                .isEqualTo("0003e889045565a9" + "00000006" + "00000003" + "0000000e" + "0003" + "00000200" + "00001000" + "02000000");
    }

    @Test
    void infoName_isTypeAndString() {
        assertThat(hex(NbdEncoding.infoString(A, NBD_OPT_GO, NBD_INFO_NAME, "x")))
                .isEqualTo("0003e889045565a9" + "00000007" + "00000003" + "00000003" + "0001" + "78");
    }

    @Test
    void metaContext_isIdAndName() {
        assertThat(hex(NbdEncoding.metaContext(A, NBD_OPT_SET_META_CONTEXT, 1, "a")))
                .isEqualTo("0003e889045565a9" + "0000000a" + "00000004" + "00000005" + "00000001" + "61");
    }

    @Test
    void exportNameReply_withAndWithoutZeroes() {
        assertThat(hex(NbdEncoding.exportNameReply(A, 1024, 3, true))).isEqualTo("0000000000000400" + "0003");
        assertThat(hex(NbdEncoding.exportNameReply(A, 1024, 3, false))).isEqualTo("0000000000000400" + "0003" + "00".repeat(124));
    }

    @Test
    void simpleReply_isMagicErrorCookie() {
        assertThat(hex(NbdEncoding.simpleReply(A, 0x1122334455667788L, NBD_EIO)))
                .isEqualTo("67446698" + "00000005" + "1122334455667788");
    }

    @Test
    void offsetDataHeader_countsOffsetInLength() {
        assertThat(hex(NbdEncoding.offsetDataHeader(A, 5, true, 4096, 512)))
                .isEqualTo("668e33ef" + "0001" + "0001" + "0000000000000005" + "00000208" + "0000000000001000");
    }

    @Test
    void noneChunk_isDoneWithZeroLength() {
        assertThat(hex(NbdEncoding.noneChunk(A, 5))).isEqualTo("668e33ef" + "0001" + "0000" + "0000000000000005" + "00000000");
    }

    @Test
    void errorChunk_isErrorMessageLengthAndMessage() {
        assertThat(hex(NbdEncoding.errorChunk(A, 5, true, NBD_EINVAL, "bad")))
                .isEqualTo("668e33ef" + "0001" + "8001" + "0000000000000005" + "00000009" + "00000016" + "0003" + "626164");
    }

    @Test
    void blockStatusChunk_isContextAndExtents() {
        assertThat(hex(NbdEncoding.blockStatusChunk(A, 5, true, 1, new long[] {4096, 512}, new int[] {0, 3})))
                .isEqualTo("668e33ef" + "0001" + "0005" + "0000000000000005" + "00000014" + "00000001"
                        + "00001000" + "00000000" + "00000200" + "00000003");
    }

    @Test
    void longStrings_areCutAt4096BytesOnACharacterBoundary() {
        String s = "é".repeat(3000); // 6000 bytes
        ByteBuf b = NbdEncoding.optionError(A, 1, NBD_REP_ERR_INVALID, s);
        assertThat(b.getInt(16)).isEqualTo(4096);
        b.release();
    }
}
