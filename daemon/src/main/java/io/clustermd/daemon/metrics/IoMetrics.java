package io.clustermd.daemon.metrics;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Counts of the array's NBD requests on the data path: requests, errors and bytes per operation
 * and a latency histogram per operation (what md shows per device in /sys/block/mdX/stat, with
 * the latency as a distribution). The data points are looked up once, so recording is a few
 * lock-free additions per request.
 */
public final class IoMetrics {

    /** The NBD commands that reach the array. */
    public enum Op {
        READ, WRITE, FLUSH, TRIM, WRITE_ZEROES;

        final String label = name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Upper bounds of the latency buckets: 25 µs to ~3.3 s, doubling. */
    static final double[] LATENCY_BOUNDS_SECONDS = bounds();

    /** Does nothing (metrics off). */
    public static final IoMetrics NONE = new IoMetrics();

    private final Map<Op, CounterDataPoint> requests = new EnumMap<>(Op.class);
    private final Map<Op, CounterDataPoint> errors = new EnumMap<>(Op.class);
    private final Map<Op, CounterDataPoint> bytes = new EnumMap<>(Op.class);
    private final Map<Op, DistributionDataPoint> latency = new EnumMap<>(Op.class);
    private final boolean enabled;

    private IoMetrics() {
        this.enabled = false;
    }

    IoMetrics(PrometheusRegistry registry, Labels array) {
        this.enabled = true;
        Counter requestCounter = Counter.builder().name("clustermd_nbd_requests_total")
                .help("NBD requests the array served, by command").constLabels(array).labelNames("op").register(registry);
        Counter errorCounter = Counter.builder().name("clustermd_nbd_request_errors_total")
                .help("NBD requests answered with an error, by command").constLabels(array).labelNames("op")
                .register(registry);
        Counter byteCounter = Counter.builder().name("clustermd_nbd_bytes_total")
                .help("Bytes read, written, trimmed or zeroed through NBD, by command").constLabels(array)
                .labelNames("op").register(registry);
        Histogram latencyHistogram = Histogram.builder().name("clustermd_nbd_request_duration_seconds")
                .help("Time from a request reaching the array to its completion, by command").constLabels(array)
                .labelNames("op").classicOnly().classicUpperBounds(LATENCY_BOUNDS_SECONDS).register(registry);
        for (Op op : Op.values()) {
            requests.put(op, requestCounter.labelValues(op.label));
            errors.put(op, errorCounter.labelValues(op.label));
            latency.put(op, latencyHistogram.labelValues(op.label));
            if (op != Op.FLUSH) {
                bytes.put(op, byteCounter.labelValues(op.label));
            }
        }
    }

    private static double[] bounds() {
        double[] b = new double[18];
        for (int i = 0; i < b.length; i++) {
            b[i] = 25e-6 * (1L << i);
        }
        return b;
    }

    /** The moment a request reaches the array (0 when metrics are off: no clock read). */
    public long start() {
        return enabled ? System.nanoTime() : 0;
    }

    /**
     * Records {@code request}, started at {@link #start()}, when it completes: one {@code op} over
     * {@code length} bytes. With metrics off it returns {@code request} untouched.
     */
    public <T> CompletableFuture<T> record(Op op, long length, long start, CompletableFuture<T> request) {
        if (!enabled) {
            return request;
        }
        return request.whenComplete((v, e) -> {
            latency.get(op).observe((System.nanoTime() - start) / 1e9);
            requests.get(op).inc();
            if (e != null) {
                errors.get(op).inc();
            } else if (length > 0) {
                bytes.get(op).inc(length);
            }
        });
    }
}
