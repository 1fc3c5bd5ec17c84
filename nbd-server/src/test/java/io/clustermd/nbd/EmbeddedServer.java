package io.clustermd.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;

/** The server's real pipeline on an EmbeddedChannel, with all outbound bytes gathered in order. */
final class EmbeddedServer {
    final EmbeddedChannel ch;
    final InFlightBudget budget;
    private final ByteBuf out = Unpooled.buffer();

    EmbeddedServer(NbdServerConfig config, NbdExport... exports) {
        this(config, new InFlightBudget(config.serverMaxInFlight(), config.serverMaxInFlightBytes()), exports);
    }

    /** A connection of a server whose other connections share {@code budget}. */
    EmbeddedServer(NbdServerConfig config, InFlightBudget budget, NbdExport... exports) {
        this(config, budget, null, exports);
    }

    /** A connection of a server that requires TLS ({@code tls} not null). */
    EmbeddedServer(NbdServerConfig config, InFlightBudget budget, NbdTls tls, NbdExport... exports) {
        this.budget = budget;
        NbdHandshakeHandler.ExportRegistry reg = new NbdHandshakeHandler.ExportRegistry() {
            @Override
            public NbdExport find(String name) {
                for (NbdExport e : exports) {
                    if (e.name().equals(name)) {
                        return e;
                    }
                }
                return name.isEmpty() ? exports[0] : null;
            }

            @Override
            public List<NbdExport> all() {
                return List.of(exports);
            }
        };
        ch = new EmbeddedChannel(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel c) {
                NbdServer.initPipeline(c.pipeline(), reg, config, budget, tls);
            }
        });
    }

    /** Completes the handshake (NBD_OPT_GO of {@code export}, simple replies) and drops its output. */
    EmbeddedServer transmission(String export) {
        send(ClientFrames.clientFlags(io.clustermd.nbd.codec.NbdProtocol.NBD_FLAG_C_FIXED_NEWSTYLE
                | io.clustermd.nbd.codec.NbdProtocol.NBD_FLAG_C_NO_ZEROES));
        send(ClientFrames.option(io.clustermd.nbd.codec.NbdProtocol.NBD_OPT_GO, ClientFrames.goData(export)));
        out().skipBytes(out().readableBytes());
        return this;
    }

    void send(ByteBuf b) {
        ch.writeInbound(b);
        ch.runPendingTasks();
    }

    /** Everything the server has written so far (accumulated; read from it). */
    ByteBuf out() {
        ch.runPendingTasks();
        for (Object o; (o = ch.readOutbound()) != null; ) {
            ByteBuf b = (ByteBuf) o;
            out.writeBytes(b);
            b.release();
        }
        return out;
    }

    void close() {
        ch.finishAndReleaseAll();
        out.release();
    }
}
