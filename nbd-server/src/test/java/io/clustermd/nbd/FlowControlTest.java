package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.nbd.NbdProtocolTest.BlockBackendWrapper;
import io.clustermd.nbd.NbdProtocolTest.ManualBackend;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Flow control on the real pipeline ({@link EmbeddedServer}): what is admitted, what waits
 * undecoded, when reading resumes, and that everything admitted is given back.
 */
class FlowControlTest {
    private static final int SIZE = 4 << 20;
    private final List<EmbeddedServer> servers = new ArrayList<>();

    @AfterEach
    void tearDown() {
        servers.forEach(EmbeddedServer::close);
    }

    private EmbeddedServer connect(NbdServerConfig cfg, InFlightBudget budget, BlockBackend b) {
        EmbeddedServer s = new EmbeddedServer(cfg, budget, new NbdExport("disk", null, b));
        servers.add(s);
        s.out().skipBytes(s.out().readableBytes()); // greeting
        return s.transmission("disk");
    }

    private static InFlightBudget budgetOf(NbdServerConfig c) {
        return new InFlightBudget(c.serverMaxInFlight(), c.serverMaxInFlightBytes());
    }

    private static int[] simple(EmbeddedServer s) {
        ByteBuf o = s.out();
        assertThat(o.readableBytes()).isGreaterThanOrEqualTo(16);
        assertThat(o.readInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
        int err = o.readInt();
        return new int[] {err, (int) o.readLong()};
    }

    @Test
    void write_largerThanTheConnectionByteLimit_waitsUnbufferedThenIsServedAlone() {
        NbdServerConfig cfg = NbdServerConfig.DEFAULTS.toBuilder().maxInFlightBytes(64 << 10).build();
        ManualBackend mb = new ManualBackend(SIZE);
        AtomicInteger allocations = new AtomicInteger();
        BlockBackend counting = new BlockBackendWrapper(mb) {
            @Override
            public ByteBuf allocateBuffer(int capacity) {
                allocations.incrementAndGet();
                return mb.allocateBuffer(capacity);
            }
        };
        EmbeddedServer s = connect(cfg, budgetOf(cfg), counting);
        s.send(ClientFrames.request(0, NBD_CMD_READ, 1, 0, 4096, null));
        s.send(ClientFrames.request(0, NBD_CMD_WRITE, 2, 0, 1 << 20, new byte[1 << 20]));
        assertThat(allocations).as("only the READ's buffer").hasValue(1);
        assertThat(s.ch.config().isAutoRead()).isFalse();
        mb.completeAll();
        s.ch.runPendingTasks();
        // With nothing else in flight the 1 MiB write is admitted alone.
        assertThat(allocations).hasValue(2);
        assertThat(simple(s)).containsExactly(0, 1);
        s.out().skipBytes(4096);
        assertThat(simple(s)).containsExactly(0, 2);
        assertThat(s.ch.config().isAutoRead()).isTrue();
        assertThat(s.budget.stats().requests()).isZero();
        assertThat(s.budget.stats().peakBytes()).isLessThanOrEqualTo(io.clustermd.nbd.file.AlignedBufferPool.footprint(1 << 20));
    }

    @Test
    void secondConnection_whenTheServerBudgetIsSpent_waitsUntilTheFirstDrains() {
        NbdServerConfig cfg = NbdServerConfig.DEFAULTS.toBuilder().maxInFlight(2).serverMaxInFlight(2).build();
        InFlightBudget shared = budgetOf(cfg);
        ManualBackend mb = new ManualBackend(SIZE);
        EmbeddedServer a = connect(cfg, shared, mb);
        EmbeddedServer b = connect(cfg, shared, mb);
        a.send(ClientFrames.request(0, NBD_CMD_FLUSH, 1, 0, 0, null));
        a.send(ClientFrames.request(0, NBD_CMD_FLUSH, 2, 0, 0, null));
        b.send(ClientFrames.request(0, NBD_CMD_FLUSH, 3, 0, 0, null));
        assertThat(mb.pending).hasSize(2);
        assertThat(b.ch.config().isAutoRead()).isFalse();
        assertThat(shared.stats().waiting()).isEqualTo(1);
        mb.completeOne();
        a.ch.runPendingTasks();
        b.ch.runPendingTasks();
        assertThat(mb.pending).hasSize(2);
        assertThat(b.ch.config().isAutoRead()).isTrue();
        mb.completeAll();
        a.ch.runPendingTasks();
        b.ch.runPendingTasks();
        assertThat(simple(a)).containsExactly(0, 1);
        assertThat(simple(a)).containsExactly(0, 2);
        assertThat(simple(b)).containsExactly(0, 3);
        assertThat(shared.stats().requests()).isZero();
    }

    @Test
    void shutdown_whilePaused_answersHeldRequestsWithEshutdownThenCloses() {
        NbdServerConfig cfg = NbdServerConfig.DEFAULTS.toBuilder().maxInFlight(1).build();
        ManualBackend mb = new ManualBackend(SIZE);
        EmbeddedServer s = connect(cfg, budgetOf(cfg), mb);
        s.send(ClientFrames.request(0, NBD_CMD_FLUSH, 1, 0, 0, null));
        s.send(ClientFrames.request(0, NBD_CMD_WRITE, 2, 0, 4096, new byte[4096]));
        s.send(ClientFrames.request(0, NBD_CMD_READ, 3, 0, 4096, null));
        assertThat(mb.pending).hasSize(1);
        s.ch.pipeline().fireUserEventTriggered(NbdTransmissionHandler.SHUTDOWN);
        assertThat(simple(s)).containsExactly(NBD_ESHUTDOWN, 2);
        assertThat(simple(s)).containsExactly(NBD_ESHUTDOWN, 3);
        assertThat(s.ch.isActive()).isTrue();
        mb.completeAll();
        s.ch.runPendingTasks();
        assertThat(simple(s)).containsExactly(0, 1);
        assertThat(s.ch.isActive()).isFalse();
        assertThat(s.budget.stats().requests()).isZero();
    }

    @Test
    void hangUp_withRequestsInFlightAndAHalfReadWrite_givesEverythingBack() {
        NbdServerConfig cfg = NbdServerConfig.DEFAULTS;
        ManualBackend mb = new ManualBackend(SIZE);
        EmbeddedServer s = connect(cfg, budgetOf(cfg), mb);
        s.send(ClientFrames.request(0, NBD_CMD_READ, 1, 0, 4096, null));
        ByteBuf w = ClientFrames.request(0, NBD_CMD_WRITE, 2, 0, 8192, new byte[8192]);
        s.send(w.readRetainedSlice(28 + 100));
        w.release();
        assertThat(s.budget.stats().requests()).isEqualTo(2);
        s.ch.close();
        mb.completeAll();
        s.ch.runPendingTasks();
        assertThat(s.budget.stats().requests()).isZero();
        assertThat(s.budget.stats().bytes()).isZero();
    }
}
