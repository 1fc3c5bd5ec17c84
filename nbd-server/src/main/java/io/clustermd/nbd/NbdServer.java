package io.clustermd.nbd;

import io.clustermd.nbd.codec.NbdOptionDecoder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD server (fixed newstyle) on Netty: the counterpart of the nbdkit server binary without its
 * plugins. It serves one or more {@link NbdExport}s on TCP and unix-socket {@link NbdListener}s,
 * on Netty's io_uring transport when the kernel allows it, else epoll, else NIO.
 *
 * <pre>
 * NbdServer s = NbdServer.builder().export(new NbdExport("", null, backend))
 *         .listen(new NbdListener.Unix(Path.of("/run/x.nbd"))).start();
 * ...
 * s.close();   // graceful: in-flight requests finish, new ones get ESHUTDOWN
 * </pre>
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    /** Which Netty transport to use. */
    public enum Transport { AUTO, EPOLL, IO_URING, NIO }

    /**
     * The resolved transport of {@code t} on this machine. AUTO: io_uring when the kernel allows it,
     * else epoll, else NIO.
     */
    public static Transport resolve(Transport t) {
        return switch (t) {
            case AUTO -> io.netty.channel.uring.IoUring.isAvailable() ? Transport.IO_URING
                    : Epoll.isAvailable() ? Transport.EPOLL : Transport.NIO;
            case EPOLL -> {
                Epoll.ensureAvailability();
                yield t;
            }
            case IO_URING -> {
                io.netty.channel.uring.IoUring.ensureAvailability();
                yield t;
            }
            case NIO -> t;
        };
    }

    /** A new event-loop group for a transport (for callers that share it with a backend). */
    public static EventLoopGroup newEventLoopGroup(Transport t, int threads) {
        DefaultThreadFactory names = new DefaultThreadFactory("nbd-io", true);
        return switch (resolve(t)) {
            case EPOLL -> new MultiThreadIoEventLoopGroup(threads, names, EpollIoHandler.newFactory());
            case IO_URING -> new UntimedIoUringLoopGroup(threads, names);
            default -> new MultiThreadIoEventLoopGroup(threads, names, NioIoHandler.newFactory());
        };
    }

    /**
     * io_uring loops that arm no timer when no task is scheduled. Netty's loop reports a deadline
     * one second ahead even with nothing scheduled (to purge cancelled tasks), and its io_uring
     * handler turns every deadline into an IORING_OP_TIMEOUT each time it waits: with requests
     * in flight that is several timers per request, each firing a second later. Cancelled tasks
     * are removed at once on the loop, so the purge deadline buys nothing here.
     */
    private static final class UntimedIoUringLoopGroup extends MultiThreadIoEventLoopGroup {
        UntimedIoUringLoopGroup(int threads, java.util.concurrent.ThreadFactory names) {
            super(threads, names, io.netty.channel.uring.IoUringIoHandler.newFactory());
        }

        @Override
        protected io.netty.channel.IoEventLoop newChild(java.util.concurrent.Executor executor,
                                                        IoHandlerFactory factory, Object... args) {
            return new io.netty.channel.SingleThreadIoEventLoop(this, executor, factory) {
                @Override
                protected long deadlineNanos() {
                    return nextScheduledTaskDeadlineNanos(); // -1 when nothing is scheduled
                }
            };
        }
    }

    private final Map<String, NbdExport> exports;
    private final NbdServerConfig config;
    private final NbdTls tls;
    private final EventLoopGroup group;
    private final boolean ownsGroup;
    private final Transport transport;
    private final ChannelGroup connections = new DefaultChannelGroup("nbd-connections", GlobalEventExecutor.INSTANCE);
    private final InFlightBudget budget;
    private final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong refused = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong peakDirect = new java.util.concurrent.atomic.AtomicLong();
    private final java.lang.management.BufferPoolMXBean jdkDirect = java.lang.management.ManagementFactory
            .getPlatformMXBeans(java.lang.management.BufferPoolMXBean.class).stream()
            .filter(b -> b.getName().equals("direct")).findFirst().orElse(null);
    private io.netty.util.concurrent.ScheduledFuture<?> sampler;
    private final List<Channel> serverChannels = new ArrayList<>();
    private final List<Path> socketFiles = new ArrayList<>();
    private volatile boolean stopping;
    private boolean closed;

    private NbdServer(Builder b) {
        this.exports = new LinkedHashMap<>();
        for (NbdExport e : b.exports) {
            if (exports.putIfAbsent(e.name(), e) != null) {
                throw new IllegalArgumentException("two exports are named '" + e.name() + "'");
            }
        }
        this.config = b.config;
        this.tls = b.tls;
        this.budget = new InFlightBudget(config.serverMaxInFlight(), config.serverMaxInFlightBytes());
        this.transport = resolve(b.transport);
        if (b.group != null) {
            this.group = b.group;
            this.ownsGroup = false;
        } else {
            this.group = newEventLoopGroup(transport, b.ioThreads);
            this.ownsGroup = true;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The transport in use. */
    public Transport transport() {
        return transport;
    }

    /** The addresses actually bound (TCP port 0 resolved). */
    public synchronized List<SocketAddress> boundAddresses() {
        List<SocketAddress> out = new ArrayList<>();
        for (Channel c : serverChannels) {
            out.add(c.localAddress());
        }
        return out;
    }

    /** The TCP port of the first TCP listener, or -1. */
    public synchronized int tcpPort() {
        for (Channel c : serverChannels) {
            if (c.localAddress() instanceof InetSocketAddress a) {
                return a.getPort();
            }
        }
        return -1;
    }

    /** Number of open client connections. */
    public int connectionCount() {
        return connections.size();
    }

    /** The limits this server runs with. */
    public NbdServerConfig config() {
        return config;
    }

    /**
     * Figures for status output and tests: connections, what is in flight against the server's
     * limits (now and at its peak), connections waiting for the server budget, and the aligned
     * buffer pool's and Netty's direct memory.
     */
    public Stats stats() {
        InFlightBudget.Stats b = budget.stats();
        return new Stats(connections.size(), refused.get(), b.requests(), b.bytes(), b.peakRequests(), b.peakBytes(),
                b.waiting(), b.maxRequests(), b.maxBytes(), io.clustermd.nbd.file.AlignedBufferPool.SHARED.allocatedBytes(),
                directMemory(), peakDirect.get());
    }

    /** Direct memory in use now: Netty's (the aligned pool's buffers included) and the JDK's own. */
    private long directMemory() {
        return io.netty.util.internal.PlatformDependent.usedDirectMemory() + (jdkDirect == null ? 0 : jdkDirect.getMemoryUsed());
    }

    /**
     * See {@link #stats()}; bytes in flight are buffer footprints ({@link io.clustermd.nbd.file.AlignedBufferPool#footprint});
     * the direct-memory peak is sampled ten times a second.
     */
    public record Stats(int connections, long connectionsRefused, int requestsInFlight, long bytesInFlight,
                        int peakRequestsInFlight, long peakBytesInFlight, int connectionsWaiting,
                        int maxRequestsInFlight, long maxBytesInFlight, long bufferPoolBytes, long directBytes,
                        long peakDirectBytes) {}

    private synchronized NbdServer start(List<NbdListener> listeners) throws IOException {
        if (exports.isEmpty()) {
            throw new IllegalArgumentException("no export to serve");
        }
        if (listeners.isEmpty()) {
            throw new IllegalArgumentException("no listener (tcp:HOST:PORT or unix:PATH)");
        }
        NbdHandshakeHandler.ExportRegistry registry = new NbdHandshakeHandler.ExportRegistry() {
            private final NbdExport defaultExport = exports.values().iterator().next();

            @Override
            public NbdExport find(String name) {
                NbdExport e = exports.get(name);
                return e != null || !name.isEmpty() ? e : defaultExport;
            }

            @Override
            public List<NbdExport> all() {
                return List.copyOf(exports.values());
            }

            @Override
            public boolean stopping() {
                return stopping;
            }
        };
        try {
            for (NbdListener l : listeners) {
                serverChannels.add(bind(l, registry));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        sampler = group.next().scheduleAtFixedRate(() -> peakDirect.accumulateAndGet(directMemory(), Math::max),
                0, 100, TimeUnit.MILLISECONDS);
        return this;
    }

    private Channel bind(NbdListener l, NbdHandshakeHandler.ExportRegistry registry) throws IOException {
        ServerBootstrap sb = new ServerBootstrap().group(group);
        SocketAddress addr;
        Class<? extends ServerChannel> cls;
        boolean tcp = l instanceof NbdListener.Tcp;
        if (l instanceof NbdListener.Tcp t) {
            addr = new InetSocketAddress(t.host(), t.port());
            if (((InetSocketAddress) addr).isUnresolved()) {
                throw new IOException("cannot resolve listen address '" + t.host() + "'");
            }
            cls = switch (transport) {
                case EPOLL -> EpollServerSocketChannel.class;
                case IO_URING -> io.netty.channel.uring.IoUringServerSocketChannel.class;
                default -> NioServerSocketChannel.class;
            };
        } else {
            Path p = ((NbdListener.Unix) l).path().toAbsolutePath();
            removeStaleSocket(p);
            addr = transport == Transport.NIO ? UnixDomainSocketAddress.of(p) : new DomainSocketAddress(p.toFile());
            cls = switch (transport) {
                case EPOLL -> EpollServerDomainSocketChannel.class;
                case IO_URING -> io.netty.channel.uring.IoUringServerDomainSocketChannel.class;
                default -> NioServerDomainSocketChannel.class;
            };
        }
        sb.channel(cls).option(ChannelOption.SO_BACKLOG, 1024);
        // Start socket reads large enough for a request header plus a typical WRITE payload, so a
        // 4 KiB write is not split over two reads (and two trips round the event loop). The largest
        // read is what a connection whose reading is paused may hold undecoded.
        sb.childOption(ChannelOption.RCVBUF_ALLOCATOR, new io.netty.channel.AdaptiveRecvByteBufAllocator(4096, 65536,
                NbdServerConfig.MAX_SOCKET_READ));
        // Replies queued beyond the high mark make the channel unwritable: the connection takes no
        // new requests until they drain (they are in the in-flight budget meanwhile), and a client
        // that never drains them is dropped (ReplyStallWatch).
        sb.childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new io.netty.channel.WriteBufferWaterMark(256 << 10, 1 << 20));
        if (tcp) {
            sb.childOption(ChannelOption.TCP_NODELAY, true);
            sb.option(ChannelOption.SO_REUSEADDR, true);
        }
        sb.childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                if (stopping) {
                    ch.close();
                    return;
                }
                if (open.incrementAndGet() > config.maxConnections()) {
                    open.decrementAndGet();
                    if (refused.getAndIncrement() % 1000 == 0) {
                        log.warn("{}: {} connections are open (the limit); closing new ones", ch.remoteAddress(),
                                config.maxConnections());
                    }
                    ch.close();
                    return;
                }
                ch.closeFuture().addListener(f -> open.decrementAndGet());
                connections.add(ch);
                initPipeline(ch.pipeline(), registry, config, budget, tls);
            }
        });
        try {
            Channel ch = sb.bind(addr).syncUninterruptibly().channel();
            if (!tcp) {
                socketFiles.add(((NbdListener.Unix) l).path().toAbsolutePath());
            }
            log.info("serving NBD on {} ({}{})", l, transport.name().toLowerCase(java.util.Locale.ROOT),
                    tls == null ? "" : "; TLS required, " + (tls.requiresClientCertificates()
                            ? "client certificates checked" : "no client certificates"));
            return ch;
        } catch (Exception e) {
            throw new IOException("cannot listen on " + l + ": " + e.getMessage()
                    + (tcp ? " (is another NBD server using the port? choose another with tcp:HOST:PORT)" : ""), e);
        }
    }

    /** The handshake-phase pipeline of a new connection; the handshake swaps in the transmission phase. */
    static void initPipeline(io.netty.channel.ChannelPipeline p, NbdHandshakeHandler.ExportRegistry registry,
                             NbdServerConfig config, InFlightBudget budget, NbdTls tls) {
        p.addLast(NbdHandshakeHandler.OPTION_DECODER, new NbdOptionDecoder(config.maxOptionLength()))
                .addLast(NbdHandshakeHandler.HANDSHAKE, new NbdHandshakeHandler(registry, config, budget, tls));
    }

    /** A socket file left by a server that died; anything else at that path is refused. */
    private static void removeStaleSocket(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            Path parent = p.getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new IOException("cannot listen on unix:" + p + ": directory " + parent + " does not exist");
            }
            return;
        }
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isOther()) {
            throw new IOException("cannot listen on unix:" + p + ": a file that is not a socket is in the way; remove it or choose another path");
        }
        Files.delete(p);
    }

    /**
     * Graceful stop: stop accepting, answer requests already read with ESHUTDOWN and read no more,
     * let in-flight requests finish and their replies go (up to the configured grace), close every
     * connection and the listeners. Takes at most the grace plus about five seconds (plus five more
     * for an event-loop group the server owns). Backends are not closed: they belong to the caller.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        stopping = true;
        if (sampler != null) {
            sampler.cancel(false);
        }
        for (Channel c : serverChannels) {
            c.close().awaitUninterruptibly();
        }
        for (Channel c : connections) {
            c.pipeline().fireUserEventTriggered(NbdTransmissionHandler.SHUTDOWN);
        }
        long deadline = System.nanoTime() + config.shutdownGrace().toNanos();
        for (Channel c : connections) {
            long left = deadline - System.nanoTime();
            if (!c.closeFuture().awaitUninterruptibly(Math.max(0, TimeUnit.NANOSECONDS.toMillis(left)))) {
                log.warn("{}: in-flight requests did not finish within {}; closing anyway", c.remoteAddress(), config.shutdownGrace());
            }
        }
        // A close is quick unless an event loop is stuck; do not hang the stop on one.
        if (!connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS)) {
            log.warn("connections did not close within 5 s");
        }
        Stats st = stats();
        log.info("NBD stopped; peaks: {} of {} requests and {} of {} MiB of buffers in flight, {} MiB of direct memory;"
                        + " {} connections refused at the limit", st.peakRequestsInFlight(), st.maxRequestsInFlight(),
                st.peakBytesInFlight() >> 20, st.maxBytesInFlight() >> 20, st.peakDirectBytes() >> 20, st.connectionsRefused());
        if (ownsGroup) {
            group.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly();
        }
        for (Path p : socketFiles) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                log.debug("cannot remove {}: {}", p, e.toString());
            }
        }
    }

    /** Builds and starts a server. */
    public static final class Builder {
        private final List<NbdExport> exports = new ArrayList<>();
        private final List<NbdListener> listeners = new ArrayList<>();
        private NbdServerConfig config = NbdServerConfig.DEFAULTS;
        private NbdTls tls;
        private Transport transport = Transport.AUTO;
        private int ioThreads = Math.min(4, Runtime.getRuntime().availableProcessors());
        private EventLoopGroup group;

        private Builder() {}

        public Builder export(NbdExport e) {
            exports.add(Objects.requireNonNull(e));
            return this;
        }

        public Builder listen(NbdListener l) {
            listeners.add(Objects.requireNonNull(l));
            return this;
        }

        public Builder config(NbdServerConfig c) {
            this.config = Objects.requireNonNull(c);
            return this;
        }

        /**
         * Require TLS on every connection (the spec's FORCEDTLS mode: no option but STARTTLS and
         * ABORT is answered before it); null serves without TLS.
         */
        public Builder tls(NbdTls t) {
            this.tls = t;
            return this;
        }

        public Builder transport(Transport t) {
            this.transport = Objects.requireNonNull(t);
            return this;
        }

        /** Event-loop threads (default: cores, at most 4). */
        public Builder ioThreads(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("ioThreads " + n + " (expected: >= 1)");
            }
            this.ioThreads = n;
            return this;
        }

        /**
         * Use an existing event-loop group (not shut down by {@link NbdServer#close()}); it must be of
         * the builder's transport ({@link NbdServer#newEventLoopGroup}).
         */
        public Builder eventLoopGroup(EventLoopGroup g) {
            this.group = g;
            return this;
        }

        /** Binds every listener; on failure nothing stays bound. */
        public NbdServer start() throws IOException {
            return new NbdServer(this).start(List.copyOf(listeners));
        }
    }
}
