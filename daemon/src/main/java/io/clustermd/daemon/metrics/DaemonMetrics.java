package io.clustermd.daemon.metrics;

import io.clustermd.control.ClusterStatus;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.array.MemberState;
import io.clustermd.md.array.SyncEngine;
import io.clustermd.nbd.NbdServer;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The daemon's Prometheus endpoint ({@code clustermd run --metrics ADDR}, {@code GET /metrics}):
 * the data path's counters ({@link IoMetrics}) and, read at each scrape, what {@code clusterctl
 * status} shows: member states and corrected read errors (md's {@code dev-*}/{@code state},
 * {@code errors}), the bitmap (dirty chunks), the sync action and its progress and speed
 * ({@code sync_action}, {@code sync_completed}, {@code sync_speed}), {@code mismatch_cnt}, the
 * NBD connections and requests in flight, and for a clustered array the node's slot, the live
 * nodes, lock requests and cluster messages. Every series carries the label {@code array}.
 *
 * <p>The HTTP server has one thread of its own: a scrape never runs on an NBD event loop.
 */
public final class DaemonMetrics implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DaemonMetrics.class);

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Labels array;
    private final IoMetrics io;
    private volatile Supplier<MdArray.Snapshot> snapshot = () -> null;
    private volatile Supplier<NbdServer.Stats> nbd = () -> null;
    private volatile Supplier<ClusterStatus> cluster = () -> null;
    private HTTPServer server;
    private ExecutorService executor;

    public DaemonMetrics(String arrayName) {
        this.array = Labels.of("array", arrayName);
        this.io = new IoMetrics(registry, array);
        registerStateMetrics();
    }

    /** The data-path counters, for the array's NBD backend. */
    public IoMetrics io() {
        return io;
    }

    /** Where the scrape-time values come from (the array, the NBD server, the cluster node or null). */
    public void sources(Supplier<MdArray.Snapshot> snapshot, Supplier<NbdServer.Stats> nbd,
                        Supplier<ClusterStatus> cluster) {
        this.snapshot = snapshot;
        this.nbd = nbd;
        this.cluster = cluster == null ? () -> null : cluster;
    }

    /** Bitmap pages written since start, read at each scrape. */
    public void bitmapPageWrites(LongSupplier pageWrites) {
        counter("clustermd_bitmap_page_writes", "Bitmap pages written to the members since the daemon started",
                cb -> cb.call(pageWrites.getAsLong()));
    }

    /**
     * A clustered array: a latency histogram of its lock requests by outcome (fed as they complete,
     * on the lock manager's event thread), and the message steps that timed out.
     */
    public void clustered(Lockspace lockspace, LongSupplier messageTimeouts) {
        Histogram latency = Histogram.builder()
                .name("clustermd_lock_request_duration_seconds")
                .help("Time from a lock, conversion or unlock request to its answer, by outcome (granted, not_granted,"
                        + " timed_out, ...); requests that wait for another node by design count too")
                .constLabels(array).labelNames("outcome").classicOnly()
                .classicUpperBounds(LOCK_BOUNDS_SECONDS).register(registry);
        Map<LockStatus, DistributionDataPoint> byStatus = new EnumMap<>(LockStatus.class);
        for (LockStatus s : LockStatus.values()) {
            byStatus.put(s, latency.labelValues(lower(s)));
        }
        lockspace.observeRequests((status, nanos) -> byStatus.get(status).observe(nanos / 1e9));
        counter("clustermd_cluster_message_timeouts", "Steps of md-cluster message exchanges that timed out waiting"
                + " for another node", cb -> cb.call(messageTimeouts.getAsLong()));
    }

    /** Lock latency buckets: 100 µs to ~100 s, doubling. */
    private static final double[] LOCK_BOUNDS_SECONDS = java.util.stream.IntStream.range(0, 21)
            .mapToDouble(i -> 100e-6 * (1L << i)).toArray();

    /** The registry (tests read it without HTTP). */
    public PrometheusRegistry registry() {
        return registry;
    }

    /**
     * Serves {@code GET /metrics} on {@code address}.
     *
     * @throws IOException if the address cannot be bound (in use, not local)
     */
    public void serve(InetSocketAddress address) throws IOException {
        executor = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("metrics-http").daemon().factory());
        server = HTTPServer.builder().inetAddress(address.getAddress()).port(address.getPort()).registry(registry)
                .executorService(executor).buildAndStart();
        InetAddress a = address.getAddress();
        if (!a.isLoopbackAddress()) {
            log.warn("metrics on {}: reachable from the network (there is no authentication); bind a loopback or"
                    + " a management address", address);
        }
        log.info("metrics on http://{}:{}/metrics", a.getHostAddress(), server.getPort());
    }

    /** The port served (after {@link #serve}; useful with port 0). */
    public int port() {
        return server.getPort();
    }

    private void gauge(String name, String help, Consumer<GaugeWithCallback.Callback> callback, String... labels) {
        GaugeWithCallback.builder().name(name).help(help).constLabels(array).labelNames(labels).callback(callback)
                .register(registry);
    }

    private void counter(String name, String help, Consumer<CounterWithCallback.Callback> callback, String... labels) {
        CounterWithCallback.builder().name(name).help(help).constLabels(array).labelNames(labels).callback(callback)
                .register(registry);
    }

    private void registerStateMetrics() {
        gauge("clustermd_array_size_bytes", "Size of the array", cb -> withSnapshot(s -> cb.call(s.arrayBytes())));
        gauge("clustermd_array_degraded", "1 while a role has no in-sync member (md's degraded)",
                cb -> withSnapshot(s -> cb.call(s.degraded() ? 1 : 0)));
        gauge("clustermd_member_state", "1 for each member in its current state (in_sync, rebuilding, spare, faulty)",
                cb -> withSnapshot(s -> {
                    for (MdArray.MemberView m : s.members()) {
                        cb.call(1, m.device(), Integer.toString(m.slot()), lower(m.state()));
                    }
                }), "member", "role", "state");
        counter("clustermd_member_read_errors", "Read errors of a member corrected from another member (md's"
                + " errors)", cb -> withSnapshot(s -> {
                    for (MdArray.MemberView m : s.members()) {
                        cb.call(m.readErrors(), m.device());
                    }
                }), "member");
        gauge("clustermd_members_in_sync", "Members holding a role with all its data",
                cb -> withSnapshot(s -> cb.call(s.members().stream().filter(m -> m.state() == MemberState.IN_SYNC).count())));
        gauge("clustermd_bitmap_dirty_chunks", "Chunks dirty in this node's write-intent bitmap",
                cb -> withSnapshot(s -> cb.call(s.dirtyChunks())));
        gauge("clustermd_bitmap_chunk_bytes", "Bytes of array data per bitmap chunk",
                cb -> withSnapshot(s -> cb.call(s.bitmapChunkBytes())));
        gauge("clustermd_sync_action", "1 for the running sync action (md's sync_action: idle, resync, recover, check,"
                + " repair)", cb -> withSnapshot(s -> cb.call(1, lower(s.sync().action()))), "action");
        gauge("clustermd_sync_done_bytes", "Progress of the running sync action (md's sync_completed)",
                cb -> withSnapshot(s -> cb.call(s.sync().doneBytes())));
        gauge("clustermd_sync_total_bytes", "Extent of the running sync action",
                cb -> withSnapshot(s -> cb.call(s.sync().totalBytes())));
        gauge("clustermd_sync_speed_bytes_per_second", "Recent speed of the running sync action (md's sync_speed)",
                cb -> withSnapshot(s -> cb.call(s.sync().action() == SyncEngine.Action.IDLE ? 0 : s.sync().bytesPerSecond())));
        gauge("clustermd_sync_waiting", "1 while the sync action waits (a lock, another node); see status",
                cb -> withSnapshot(s -> cb.call(s.sync().waitingFor() == null ? 0 : 1)));
        gauge("clustermd_mismatch_sectors", "Sectors found different by the last check or repair (md's mismatch_cnt)",
                cb -> withSnapshot(s -> cb.call(s.mismatches())));

        gauge("clustermd_nbd_connections", "Open NBD connections", cb -> withNbd(n -> cb.call(n.connections())));
        counter("clustermd_nbd_connections_refused", "NBD connections closed at once (over --max-connections)",
                cb -> withNbd(n -> cb.call(n.connectionsRefused())));
        gauge("clustermd_nbd_requests_in_flight", "NBD requests being served",
                cb -> withNbd(n -> cb.call(n.requestsInFlight())));
        gauge("clustermd_nbd_buffer_bytes_in_flight", "Request buffer memory held by requests in flight",
                cb -> withNbd(n -> cb.call(n.bytesInFlight())));

        gauge("clustermd_cluster_slot", "This node's bitmap slot (md's slot_number - 1)",
                cb -> clusterValue(ClusterStatus::nodeSlot, cb::call));
        gauge("clustermd_cluster_nodes", "Live nodes of the array as this node sees them, itself included",
                cb -> clusterValue(c -> c.nodes() == null ? null : c.nodes().size(), cb::call));
        gauge("clustermd_lock_manager_healthy", "1 while the lock manager answers and this node is not fenced",
                cb -> clusterValue(c -> "ok".equals(c.lockHealth()) ? 1 : 0, cb::call));
        counter("clustermd_lock_requests", "Lock requests this node sent in the array's lockspace",
                cb -> clusterValue(ClusterStatus::lockRequests, cb::call));
        counter("clustermd_cluster_messages_sent", "md-cluster messages this node sent",
                cb -> clusterValue(ClusterStatus::messagesSent, cb::call));
        counter("clustermd_cluster_messages_received", "md-cluster messages this node processed",
                cb -> clusterValue(ClusterStatus::messagesReceived, cb::call));
    }

    /** Reports {@code field} of the cluster status, if the array is clustered and the field known. */
    private void clusterValue(java.util.function.Function<ClusterStatus, Number> field,
                              java.util.function.DoubleConsumer report) {
        withCluster(c -> {
            Number n = field.apply(c);
            if (n != null) {
                report.accept(n.doubleValue());
            }
        });
    }

    private void withSnapshot(Consumer<MdArray.Snapshot> use) {
        MdArray.Snapshot s = snapshot.get();
        if (s != null) {
            use.accept(s);
        }
    }

    private void withNbd(Consumer<NbdServer.Stats> use) {
        NbdServer.Stats s = nbd.get();
        if (s != null) {
            use.accept(s);
        }
    }

    private void withCluster(Consumer<ClusterStatus> use) {
        ClusterStatus c = cluster.get();
        if (c != null) {
            use.accept(c);
        }
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
        if (executor != null) {
            executor.shutdownNow();
        }
    }
}
