package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.nbd.memory.MemoryBackend;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The handshake and transmission handlers through the server's real pipeline on an EmbeddedChannel:
 * every option, every command, every error reply, DISC, shutdown and backpressure.
 */
class NbdProtocolTest {
    private static final int SIZE = 1 << 20;
    private MemoryBackend mem = new MemoryBackend(SIZE);
    private EmbeddedServer srv;

    @AfterEach
    void tearDown() {
        if (srv != null) {
            srv.close();
        }
    }

    private EmbeddedServer start(NbdServerConfig cfg, NbdExport... exports) {
        srv = new EmbeddedServer(cfg, exports);
        ByteBuf o = srv.out();
        assertThat(o.readLong()).isEqualTo(NBD_MAGIC);
        assertThat(o.readLong()).isEqualTo(NBD_OPTS_MAGIC);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
        srv.send(ClientFrames.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
        return srv;
    }

    private EmbeddedServer start() {
        return start(NbdServerConfig.DEFAULTS, new NbdExport("disk", "a test disk", mem));
    }

    record OptReply(int option, int type, byte[] data) {}

    private OptReply optReply() {
        ByteBuf o = srv.out();
        assertThat(o.readableBytes()).isGreaterThanOrEqualTo(20);
        assertThat(o.readLong()).isEqualTo(NBD_REP_MAGIC);
        int opt = o.readInt();
        int type = o.readInt();
        byte[] d = new byte[o.readInt()];
        o.readBytes(d);
        return new OptReply(opt, type, d);
    }

    private void go(boolean structured, int... infos) {
        if (structured) {
            srv.send(ClientFrames.option(NBD_OPT_STRUCTURED_REPLY, new byte[0]));
            assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        }
        srv.send(ClientFrames.option(NBD_OPT_GO, ClientFrames.goData("disk", infos)));
        for (OptReply r; (r = optReply()).type() != NBD_REP_ACK; ) {
            assertThat(r.type()).isEqualTo(NBD_REP_INFO);
        }
    }

    record Simple(int error, long cookie) {}

    private Simple simple() {
        ByteBuf o = srv.out();
        assertThat(o.readableBytes()).isGreaterThanOrEqualTo(16);
        assertThat(o.readInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
        return new Simple(o.readInt(), o.readLong());
    }

    private byte[] readBytes(int n) {
        byte[] d = new byte[n];
        srv.out().readBytes(d);
        return d;
    }

    private static byte[] random(int n, long seed) {
        byte[] a = new byte[n];
        new Random(seed).nextBytes(a);
        return a;
    }

    // --- handshake ---------------------------------------------------------------------------

    @Test
    void go_withBlockSizeRequest_repliesExportInfoBlockSizeAndAck() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_GO, ClientFrames.goData("disk", NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, NBD_INFO_DESCRIPTION)));
        OptReply export = optReply();
        assertThat(export.type()).isEqualTo(NBD_REP_INFO);
        ByteBuf d = Unpooled.wrappedBuffer(export.data());
        assertThat(d.readUnsignedShort()).isEqualTo(NBD_INFO_EXPORT);
        assertThat(d.readLong()).isEqualTo(SIZE);
        int flags = d.readUnsignedShort();
        assertThat(flags & NBD_FLAG_HAS_FLAGS).isNotZero();
        assertThat(flags & (NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES
                | NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_DF))
                .isEqualTo(NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES
                        | NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_DF);
        assertThat(flags & NBD_FLAG_READ_ONLY).isZero();
        assertThat(new String(optReply().data(), 2, 4, StandardCharsets.UTF_8)).isEqualTo("disk");
        assertThat(new String(optReply().data(), 2, 11, StandardCharsets.UTF_8)).isEqualTo("a test disk");
        ByteBuf bs = Unpooled.wrappedBuffer(optReply().data());
        assertThat(bs.readUnsignedShort()).isEqualTo(NBD_INFO_BLOCK_SIZE);
        assertThat(bs.readInt()).isEqualTo(1);
        assertThat(bs.readInt()).isEqualTo(4096);
        assertThat(bs.readInt()).isEqualTo(32 << 20);
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        assertThat(srv.ch.pipeline().get(NbdHandshakeHandler.TRANSMISSION)).isNotNull();
        assertThat(srv.ch.pipeline().get(NbdHandshakeHandler.OPTION_DECODER)).isNull();
    }

    @Test
    void transmissionFlags_ofReadOnlyBackendWithoutCapabilities_promiseNothingElse() {
        BlockBackend bare = new BlockBackend() {
            @Override public long size() { return 4096; }
            @Override public boolean isReadOnly() { return true; }
            @Override public CompletableFuture<Void> pread(ByteBuf dst, long o, int l, int f) { return null; }
            @Override public CompletableFuture<Void> pwrite(ByteBuf src, long o, int f) { return null; }
        };
        assertThat(new NbdExport("", null, bare).transmissionFlags())
                .isEqualTo(NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_DF);
    }

    @Test
    void unknownOption_getsErrUnsupAndHandshakeContinues() {
        start();
        srv.send(ClientFrames.option(4242, new byte[] {1, 2, 3}));
        OptReply r = optReply();
        assertThat(r.option()).isEqualTo(4242);
        assertThat(r.type()).isEqualTo(NBD_REP_ERR_UNSUP);
        srv.send(ClientFrames.option(NBD_OPT_STARTTLS, new byte[0]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_UNSUP);
        go(false);
        assertThat(srv.ch.isActive()).isTrue();
    }

    @Test
    void list_repliesOneServerPerExportThenAck() {
        start(NbdServerConfig.DEFAULTS, new NbdExport("a", null, mem), new NbdExport("b", "second", mem));
        srv.send(ClientFrames.option(NBD_OPT_LIST, new byte[0]));
        OptReply a = optReply();
        assertThat(a.type()).isEqualTo(NBD_REP_SERVER);
        assertThat(a.data()).containsExactly(0, 0, 0, 1, 'a');
        OptReply b = optReply();
        assertThat(new String(b.data(), 4, b.data().length - 4, StandardCharsets.UTF_8)).isEqualTo("bsecond");
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        srv.send(ClientFrames.option(NBD_OPT_LIST, new byte[1]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
    }

    @Test
    void infoAndGo_forUnknownExport_getErrUnknown() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_INFO, ClientFrames.goData("nope")));
        OptReply r = optReply();
        assertThat(r.type()).isEqualTo(NBD_REP_ERR_UNKNOWN);
        assertThat(new String(r.data(), StandardCharsets.UTF_8)).contains("nope");
        srv.send(ClientFrames.option(NBD_OPT_GO, ClientFrames.goData("nope")));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_UNKNOWN);
        assertThat(srv.ch.isActive()).isTrue();
    }

    @Test
    void go_withMalformedData_getsErrInvalid() {
        start();
        byte[] d = ClientFrames.goData("disk", NBD_INFO_NAME);
        srv.send(ClientFrames.option(NBD_OPT_GO, java.util.Arrays.copyOf(d, d.length - 1)));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        srv.send(ClientFrames.option(NBD_OPT_GO, new byte[] {0, 0, 0x7f, 0}));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
    }

    @Test
    void info_staysInHandshake() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_INFO, ClientFrames.goData("")));
        assertThat(optReply().type()).isEqualTo(NBD_REP_INFO);
        assertThat(optReply().type()).isEqualTo(NBD_REP_INFO);
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        assertThat(srv.ch.pipeline().get(NbdHandshakeHandler.HANDSHAKE)).isNotNull();
    }

    @Test
    void exportName_repliesSizeAndFlagsWithoutZeroesWhenNegotiated() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_EXPORT_NAME, "disk".getBytes(StandardCharsets.UTF_8)));
        ByteBuf o = srv.out();
        assertThat(o.readLong()).isEqualTo(SIZE);
        o.readUnsignedShort();
        assertThat(o.readableBytes()).isZero();
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 1, 0, 0, null));
        assertThat(simple()).isEqualTo(new Simple(0, 1));
    }

    @Test
    void exportName_withoutNoZeroes_sends124Zeroes() {
        srv = new EmbeddedServer(NbdServerConfig.DEFAULTS, new NbdExport("", null, mem));
        srv.out().skipBytes(18);
        srv.send(ClientFrames.clientFlags(NBD_FLAG_C_FIXED_NEWSTYLE));
        srv.send(ClientFrames.option(NBD_OPT_EXPORT_NAME, new byte[0]));
        assertThat(srv.out().readableBytes()).isEqualTo(8 + 2 + 124);
    }

    @Test
    void exportName_unknown_closesConnection() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8)));
        assertThat(srv.ch.isActive()).isFalse();
    }

    @Test
    void abort_acksAndCloses() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_ABORT, new byte[0]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        assertThat(srv.ch.isActive()).isFalse();
    }

    @Test
    void unknownClientFlags_closeConnection() {
        srv = new EmbeddedServer(NbdServerConfig.DEFAULTS, new NbdExport("", null, mem));
        srv.send(ClientFrames.clientFlags(0x80));
        assertThat(srv.ch.isActive()).isFalse();
    }

    @Test
    void tooBigOption_getsErrTooBig() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_GO, new byte[70_000]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_TOO_BIG);
        go(false);
    }

    @Test
    void structuredReplyTwice_secondGetsErrInvalid() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_STRUCTURED_REPLY, new byte[0]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        srv.send(ClientFrames.option(NBD_OPT_STRUCTURED_REPLY, new byte[0]));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
    }

    @Test
    void metaContext_setBeforeStructuredReplies_isInvalid_listAlwaysWorks() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_SET_META_CONTEXT, ClientFrames.metaData("disk", BASE_ALLOCATION)));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ERR_INVALID);
        srv.send(ClientFrames.option(NBD_OPT_LIST_META_CONTEXT, ClientFrames.metaData("disk")));
        OptReply m = optReply();
        assertThat(m.type()).isEqualTo(NBD_REP_META_CONTEXT);
        assertThat(new String(m.data(), 4, m.data().length - 4, StandardCharsets.UTF_8)).isEqualTo(BASE_ALLOCATION);
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        srv.send(ClientFrames.option(NBD_OPT_LIST_META_CONTEXT, ClientFrames.metaData("disk", "qemu:dirty-bitmap:x")));
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
    }

    @Test
    void blockStatus_afterSetMetaContext_reportsOneDataExtent() {
        start();
        srv.send(ClientFrames.option(NBD_OPT_STRUCTURED_REPLY, new byte[0]));
        optReply();
        srv.send(ClientFrames.option(NBD_OPT_SET_META_CONTEXT, ClientFrames.metaData("disk", "unknown:x", BASE_ALLOCATION)));
        OptReply m = optReply();
        assertThat(m.type()).isEqualTo(NBD_REP_META_CONTEXT);
        assertThat(Unpooled.wrappedBuffer(m.data()).readInt()).isEqualTo(BASE_ALLOCATION_ID);
        assertThat(optReply().type()).isEqualTo(NBD_REP_ACK);
        go(false);
        srv.send(ClientFrames.request(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 77, SIZE - 8192, 8192, null));
        ByteBuf o = srv.out();
        assertThat(o.readInt()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_TYPE_BLOCK_STATUS);
        assertThat(o.readLong()).isEqualTo(77);
        assertThat(o.readInt()).isEqualTo(12);
        assertThat(o.readInt()).isEqualTo(BASE_ALLOCATION_ID);
        assertThat(o.readInt()).isEqualTo(8192);
        assertThat(o.readInt()).isZero();
    }

    @Test
    void blockStatus_withoutMetaContext_isInvalid() {
        start();
        go(true);
        srv.send(ClientFrames.request(0, NBD_CMD_BLOCK_STATUS, 5, 0, 4096, null));
        ByteBuf o = srv.out();
        assertThat(o.readInt()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        o.readShort();
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_TYPE_ERROR);
        o.skipBytes(12);
        assertThat(o.readInt()).isEqualTo(NBD_EINVAL);
        o.skipBytes(o.readUnsignedShort());
    }

    // --- transmission ------------------------------------------------------------------------

    @Test
    void writeThenRead_simpleReplies_roundTripData() {
        start();
        go(false);
        byte[] data = random(8192, 1);
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 1, 4096, data.length, data));
        assertThat(simple()).isEqualTo(new Simple(0, 1));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 2, 4096, data.length, null));
        assertThat(simple()).isEqualTo(new Simple(0, 2));
        assertThat(readBytes(data.length)).isEqualTo(data);
    }

    @Test
    void read_withStructuredReplies_isOneOffsetDataChunkWithDone() {
        start();
        go(true);
        byte[] data = random(512, 2);
        srv.send(ClientFrames.request(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 1, 1000, data.length, data));
        assertThat(simple()).isEqualTo(new Simple(0, 1));
        srv.send(ClientFrames.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 2, 1000, 512, null));
        ByteBuf o = srv.out();
        assertThat(o.readInt()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_TYPE_OFFSET_DATA);
        assertThat(o.readLong()).isEqualTo(2);
        assertThat(o.readInt()).isEqualTo(8 + 512);
        assertThat(o.readLong()).isEqualTo(1000);
        assertThat(readBytes(512)).isEqualTo(data);
    }

    @Test
    void trimZeroCacheFlush_succeedAndZeroesReadBack() {
        start();
        go(false);
        byte[] data = random(4096, 3);
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 1, 0, data.length, data));
        srv.send(ClientFrames.request(NBD_CMD_FLAG_NO_HOLE, NBD_CMD_WRITE_ZEROES, 2, 100, 200, null));
        srv.send(ClientFrames.request(NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 3, 300, 100, null));
        srv.send(ClientFrames.request(0, NBD_CMD_TRIM, 4, 1000, 24, null));
        srv.send(ClientFrames.request(0, NBD_CMD_CACHE, 5, 0, 4096, null));
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 6, 0, 0, null));
        for (int i = 1; i <= 6; i++) {
            assertThat(simple()).isEqualTo(new Simple(0, i));
        }
        byte[] expect = data.clone();
        java.util.Arrays.fill(expect, 100, 400, (byte) 0);
        java.util.Arrays.fill(expect, 1000, 1024, (byte) 0);
        assertThat(java.util.Arrays.copyOf(mem.snapshot(), 4096)).isEqualTo(expect);
    }

    @Test
    void errors_areRepliedAndConnectionGoesOn() {
        start();
        go(false);
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 1, SIZE - 512, 1024, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 1));
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 2, SIZE, 1, new byte[1]));
        assertThat(simple()).isEqualTo(new Simple(NBD_ENOSPC, 2));
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE_ZEROES, 3, SIZE - 1, 2, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_ENOSPC, 3));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 4, 0, (32 << 20) + 1, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EOVERFLOW, 4));
        srv.send(ClientFrames.request(0, 77, 5, 0, 1, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 5));
        srv.send(ClientFrames.request(0x100, NBD_CMD_READ, 6, 0, 1, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 6));
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 7, 1, 0, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 7));
        srv.send(ClientFrames.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, 8, 0, 1, null)); // DF needs structured replies
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 8));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 9, -1L, 1, null)); // offset 2^64-1
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 9));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 10, 0, 0, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 10));
        mem.failAt(8192, NBD_EIO);
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 11, 8192, 512, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EIO, 11));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 12, 0, 16, null));
        assertThat(simple()).isEqualTo(new Simple(0, 12));
        readBytes(16);
        assertThat(srv.ch.isActive()).isTrue();
    }

    @Test
    void oversizedWrite_isRefusedWithEoverflowAndFramingKept() {
        start();
        go(false);
        byte[] big = new byte[(32 << 20) + 4096];
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 1, 0, big.length, big));
        assertThat(simple()).isEqualTo(new Simple(NBD_EOVERFLOW, 1));
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 2, 0, 0, null));
        assertThat(simple()).isEqualTo(new Simple(0, 2));
    }

    @Test
    void backendError_withStructuredReplies_isErrorChunkWithMessage() {
        start();
        go(true);
        mem.failAt(0, NBD_ENOSPC);
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 3, 0, 512, null));
        ByteBuf o = srv.out();
        assertThat(o.readInt()).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_FLAG_DONE);
        assertThat(o.readUnsignedShort()).isEqualTo(NBD_REPLY_TYPE_ERROR);
        assertThat(o.readLong()).isEqualTo(3);
        int len = o.readInt();
        assertThat(o.readInt()).isEqualTo(NBD_ENOSPC);
        byte[] msg = new byte[o.readUnsignedShort()];
        o.readBytes(msg);
        assertThat(len).isEqualTo(6 + msg.length);
        assertThat(new String(msg, StandardCharsets.UTF_8)).contains("injected failure");
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 4, 0, 1, new byte[1]));
        assertThat(simple()).isEqualTo(new Simple(NBD_ENOSPC, 4));
    }

    @Test
    void readOnlyExport_refusesWritesWithEperm() {
        mem = new MemoryBackend(SIZE, Runnable::run, true);
        start();
        go(false);
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 1, 0, 1, new byte[1]));
        srv.send(ClientFrames.request(0, NBD_CMD_TRIM, 2, 0, 1, null));
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE_ZEROES, 3, 0, 1, null));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 4, 0, 1, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EPERM, 1));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 2)); // trim is not advertised read-only
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 3));
        assertThat(simple()).isEqualTo(new Simple(0, 4));
    }

    @Test
    void misalignedRequest_fromClientThatAgreedToBlockSizes_isInvalid() {
        mem = new MemoryBackend(SIZE);
        BlockBackend b4k = new BlockBackendWrapper(mem) {
            @Override public int minimumBlockSize() { return 4096; }
        };
        start(NbdServerConfig.DEFAULTS, new NbdExport("disk", null, b4k));
        go(false, NBD_INFO_BLOCK_SIZE);
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 1, 512, 4096, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 1));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 2, 4096, 4096, null));
        assertThat(simple()).isEqualTo(new Simple(0, 2));
    }

    @Test
    void misalignedRequest_fromClientThatDidNotAsk_isInvalidButTheExportsUnalignedEndIsReachable() {
        mem = new MemoryBackend(SIZE);
        BlockBackend b4k = new BlockBackendWrapper(mem) {
            @Override public long size() { return SIZE - 1024; }
            @Override public int minimumBlockSize() { return 4096; }
        };
        start(NbdServerConfig.DEFAULTS, new NbdExport("disk", null, b4k));
        go(false);
        srv.send(ClientFrames.request(0, NBD_CMD_WRITE, 1, 1024, 1024, new byte[1024]));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 1));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 2, 4096, 1024, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_EINVAL, 2));
        // The last block is short: a request that ends at the end of the export is served.
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 3, SIZE - 4096, 3072, null));
        assertThat(simple()).isEqualTo(new Simple(0, 3));
    }

    @Test
    void disc_waitsForInFlightRepliesThenCloses() {
        ManualBackend mb = new ManualBackend(SIZE);
        start(NbdServerConfig.DEFAULTS, new NbdExport("disk", null, mb));
        go(false);
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 1, 0, 512, null));
        srv.send(ClientFrames.request(0, NBD_CMD_DISC, 2, 0, 0, null));
        srv.send(ClientFrames.request(0, NBD_CMD_READ, 3, 0, 512, null)); // after DISC: ignored
        assertThat(srv.ch.isActive()).isTrue();
        assertThat(mb.pending).hasSize(1);
        mb.completeAll();
        srv.ch.runPendingTasks();
        assertThat(simple()).isEqualTo(new Simple(0, 1));
        srv.out().skipBytes(512);
        assertThat(srv.out().readableBytes()).isZero();
        assertThat(srv.ch.isActive()).isFalse();
    }

    @Test
    void shutdown_answersNewRequestsWithEshutdownAndClosesWhenDrained() {
        ManualBackend mb = new ManualBackend(SIZE);
        start(NbdServerConfig.DEFAULTS, new NbdExport("disk", null, mb));
        go(false);
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 1, 0, 0, null));
        srv.ch.pipeline().fireUserEventTriggered(NbdTransmissionHandler.SHUTDOWN);
        srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 2, 0, 0, null));
        assertThat(simple()).isEqualTo(new Simple(NBD_ESHUTDOWN, 2));
        assertThat(srv.ch.isActive()).isTrue();
        mb.completeAll();
        srv.ch.runPendingTasks();
        assertThat(simple()).isEqualTo(new Simple(0, 1));
        assertThat(srv.ch.isActive()).isFalse();
    }

    @Test
    void backpressure_leavesRequestOverMaxInFlightUndecodedAndResumesAtHalf() {
        ManualBackend mb = new ManualBackend(SIZE);
        start(NbdServerConfig.DEFAULTS.withMaxInFlight(4), new NbdExport("disk", null, mb));
        go(false);
        for (int i = 0; i < 5; i++) {
            srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, i, 0, 0, null));
        }
        assertThat(mb.pending).hasSize(4);
        assertThat(srv.ch.config().isAutoRead()).isFalse();
        mb.completeOne();
        srv.ch.runPendingTasks();
        assertThat(mb.pending).hasSize(3);
        assertThat(srv.ch.config().isAutoRead()).isFalse();
        mb.completeOne();
        srv.ch.runPendingTasks();
        // At half the limit the held request is decoded and reading resumes.
        assertThat(mb.pending).hasSize(3);
        assertThat(srv.ch.config().isAutoRead()).isTrue();
        mb.completeAll();
        srv.ch.runPendingTasks();
        for (int i = 0; i < 5; i++) {
            assertThat(simple().error()).isZero();
        }
    }

    @Test
    void completionsOutOfOrder_repliesCarryTheRightCookies() {
        ManualBackend mb = new ManualBackend(SIZE);
        start(NbdServerConfig.DEFAULTS, new NbdExport("disk", null, mb));
        go(false);
        for (int i = 0; i < 5; i++) {
            srv.send(ClientFrames.request(0, NBD_CMD_FLUSH, 100 + i, 0, 0, null));
        }
        for (int i = 4; i >= 0; i--) {
            mb.pending.remove(i).complete(null);
        }
        srv.ch.runPendingTasks();
        List<Long> cookies = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            cookies.add(simple().cookie());
        }
        assertThat(cookies).containsExactly(104L, 103L, 102L, 101L, 100L);
    }

    /** A backend whose futures the test completes by hand. */
    static final class ManualBackend extends MemoryBackend {
        final List<CompletableFuture<Void>> pending = new ArrayList<>();

        ManualBackend(int size) {
            super(size);
        }

        private CompletableFuture<Void> later(CompletableFuture<Void> done) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            pending.add(f);
            return f.thenCompose(v -> done);
        }

        @Override public CompletableFuture<Void> pread(ByteBuf dst, long o, int l, int f) { return later(super.pread(dst, o, l, f)); }
        @Override public CompletableFuture<Void> flush(int f) { return later(super.flush(f)); }

        void completeOne() {
            pending.remove(0).complete(null);
        }

        void completeAll() {
            while (!pending.isEmpty()) {
                completeOne();
            }
        }
    }

    /** Forwards everything to another backend (override to change one capability). */
    static class BlockBackendWrapper implements BlockBackend {
        final BlockBackend d;

        BlockBackendWrapper(BlockBackend d) {
            this.d = d;
        }

        @Override public long size() { return d.size(); }
        @Override public boolean isReadOnly() { return d.isReadOnly(); }
        @Override public boolean canFlush() { return d.canFlush(); }
        @Override public boolean canFua() { return d.canFua(); }
        @Override public int minimumBlockSize() { return d.minimumBlockSize(); }
        @Override public CompletableFuture<Void> pread(ByteBuf dst, long o, int l, int f) { return d.pread(dst, o, l, f); }
        @Override public CompletableFuture<Void> pwrite(ByteBuf src, long o, int f) { return d.pwrite(src, o, f); }
        @Override public CompletableFuture<Void> flush(int f) { return d.flush(f); }
    }
}
