package io.clustermd.test.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.md.MemberFiles;
import io.clustermd.test.Processes;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code clustermd run --metrics}: the Prometheus endpoint read over HTTP and parsed by the
 * Prometheus Python client's own parser, while real NBD clients use the array and clusterctl
 * changes it.
 */
class MetricsDaemonTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final List<Daemon> daemons = new ArrayList<>();

    @AfterEach
    void stop() throws InterruptedException {
        for (Daemon d : daemons) {
            d.close();
        }
    }

    private List<Path> create(String name) {
        List<Path> paths = MemberFiles.sparse(dir, name + "-", 2, 64L << 20);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=internal",
                "--bitmap-chunk=1M", "--name=" + name));
        paths.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()), new PrintWriter(err)))
                .as(err.toString()).isZero();
        return paths;
    }

    /** One parsed sample. */
    record Sample(String name, Map<String, String> labels, double value, String type) {
    }

    private static List<Sample> scrape(int port) throws Exception {
        Processes.Result r = Processes.run(List.of("/usr/bin/python3",
                Daemon.ROOT.resolve("test/src/test/resources/parse_metrics.py").toString(),
                "http://127.0.0.1:" + port + "/metrics"));
        assertThat(r.exitCode()).as("the Prometheus parser read the endpoint: %s", r.stderr()).isZero();
        List<Sample> samples = new ArrayList<>();
        for (String line : r.lines()) {
            JsonNode n = JSON.readTree(line);
            Map<String, String> labels = JSON.convertValue(n.get("labels"), JSON.getTypeFactory()
                    .constructMapType(Map.class, String.class, String.class));
            samples.add(new Sample(n.get("name").asText(), labels, n.get("value").asDouble(), n.get("type").asText()));
        }
        return samples;
    }

    private static double value(List<Sample> samples, String name, String... labels) {
        return samples.stream().filter(s -> s.name().equals(name) && matches(s.labels(), labels))
                .mapToDouble(Sample::value).findFirst()
                .orElseThrow(() -> new AssertionError("no sample " + name + " " + List.of(labels)));
    }

    private static boolean matches(Map<String, String> have, String... want) {
        for (int i = 0; i < want.length; i += 2) {
            if (!want[i + 1].equals(have.get(want[i]))) {
                return false;
            }
        }
        return true;
    }

    private static int port(Daemon d) {
        Matcher m = Pattern.compile("metrics on http://127\\.0\\.0\\.1:(\\d+)/metrics").matcher(d.logText());
        assertThat(m.find()).as("the daemon logs where its metrics are").isTrue();
        return Integer.parseInt(m.group(1));
    }

    @Test
    void metricsEndpoint_countsIoAndFollowsTheArray_andParsesAsPrometheusText() throws Exception {
        List<Path> members = create("met");
        Daemon d = Daemon.start(dir, "met", members, "--metrics", "127.0.0.1:0");
        daemons.add(d);
        int port = port(d);
        await().atMost(Duration.ofSeconds(60)).until(() -> d.ctlHere("status").stdout().contains("[UU]")
                && !d.ctlHere("status").stdout().contains("resync"));

        Path in = dir.resolve("in.bin");
        byte[] data = new byte[16 << 20];
        new Random(7).nextBytes(data);
        Files.write(in, data);
        assertThat(Processes.run(List.of("nbdcopy", in.toString(), d.nbdUri())).exitCode()).isZero();
        assertThat(Processes.run(List.of("nbdcopy", "--flush", in.toString(), d.nbdUri())).exitCode()).isZero();
        assertThat(Processes.run(List.of("nbdcopy", d.nbdUri(), dir.resolve("out.bin").toString())).exitCode()).isZero();

        List<Sample> s = scrape(port);
        assertThat(s).allSatisfy(x -> assertThat(x.labels()).containsEntry("array", "met"));
        assertThat(value(s, "clustermd_nbd_bytes_total", "op", "write")).isEqualTo(2.0 * data.length);
        assertThat(value(s, "clustermd_nbd_bytes_total", "op", "read")).isEqualTo(64.0 * 1024 * 1024 - 1024 * 1024);
        double writes = value(s, "clustermd_nbd_requests_total", "op", "write");
        assertThat(writes).isPositive();
        assertThat(value(s, "clustermd_nbd_requests_total", "op", "flush")).isGreaterThanOrEqualTo(1);
        assertThat(value(s, "clustermd_nbd_request_errors_total", "op", "write")).isZero();
        // the histogram: every write in a bucket, the +Inf bucket equals the count
        assertThat(value(s, "clustermd_nbd_request_duration_seconds_count", "op", "write")).isEqualTo(writes);
        assertThat(value(s, "clustermd_nbd_request_duration_seconds_bucket", "op", "write", "le", "+Inf")).isEqualTo(writes);
        assertThat(s).filteredOn(x -> x.name().equals("clustermd_nbd_request_duration_seconds_bucket"))
                .allSatisfy(x -> assertThat(x.type()).isEqualTo("histogram"));
        assertThat(value(s, "clustermd_member_state", "member", members.get(0).toString(), "state", "in_sync")).isEqualTo(1);
        assertThat(value(s, "clustermd_members_in_sync")).isEqualTo(2);
        assertThat(value(s, "clustermd_array_degraded")).isZero();
        assertThat(value(s, "clustermd_sync_action", "action", "idle")).isEqualTo(1);
        assertThat(value(s, "clustermd_array_size_bytes")).isEqualTo(64.0 * 1024 * 1024 - 1024 * 1024);

        // a member failed with clusterctl: its state series says faulty, the array degraded
        assertThat(d.ctl("fail", members.get(1).toString()).exitCode()).isZero();
        List<Sample> after = scrape(port);
        assertThat(value(after, "clustermd_member_state", "member", members.get(1).toString(), "state", "faulty")).isEqualTo(1);
        assertThat(after).noneMatch(x -> x.name().equals("clustermd_member_state")
                && members.get(1).toString().equals(x.labels().get("member")) && "in_sync".equals(x.labels().get("state")));
        assertThat(value(after, "clustermd_array_degraded")).isEqualTo(1);
        assertThat(value(after, "clustermd_nbd_connections")).isZero();
    }

    @Test
    void clusteredArray_showsSlotNodesLockLatencyAndMessages() throws Exception {
        try (Coordinator zk = Coordinator.start(dir.resolve("zk"))) {
            List<Path> members = MemberFiles.sparse(dir, "cl-", 2, 64L << 20);
            List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2",
                    "--bitmap=clustered", "--nodes=2", "--home-cluster=zk", "--assume-clean", "--name=cl"));
            members.forEach(p -> args.add(p.toString()));
            StringWriter err = new StringWriter();
            assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                    new PrintWriter(err))).as(err.toString()).isZero();
            Daemon d = Daemon.start(dir.resolve("n1"), "cl", members, "--lock", zk.lockUri(), "--node-name", "n1",
                    "--metrics", "127.0.0.1:0");
            daemons.add(d);
            Daemon other = Daemon.start(dir.resolve("n2"), "cl", members, "--lock", zk.lockUri(), "--node-name", "n2");
            daemons.add(other);
            Path in = dir.resolve("cl.bin");
            Files.write(in, new byte[1 << 20]);
            assertThat(Processes.run(List.of("nbdcopy", in.toString(), d.nbdUri())).exitCode()).isZero();
            List<Sample> s = scrape(port(d));
            assertThat(value(s, "clustermd_cluster_slot")).isZero();
            assertThat(value(s, "clustermd_cluster_nodes")).isEqualTo(2);
            assertThat(value(s, "clustermd_lock_manager_healthy")).isEqualTo(1);
            assertThat(value(s, "clustermd_lock_requests_total")).isPositive();
            assertThat(value(s, "clustermd_cluster_messages_received_total")).isPositive();
            assertThat(value(s, "clustermd_cluster_message_timeouts_total")).isZero();
            assertThat(value(s, "clustermd_lock_request_duration_seconds_count", "outcome", "granted")).isPositive();
            assertThat(value(s, "clustermd_bitmap_page_writes_total")).isPositive();
        }
    }

    @Test
    void badOrTakenMetricsAddress_isRefusedWithAClearError() throws Exception {
        List<Path> members = create("bad");
        Processes.Result r = Processes.run(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "run",
                "--run-dir", dir.resolve("run").toString(), "--metrics", "localhost:http", members.get(0).toString(),
                members.get(1).toString()));
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.stderr()).contains("--metrics is [HOST:]PORT (e.g. 9750 or 127.0.0.1:9750), got 'localhost:http'");
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Processes.Result busy = Processes.run(List.of(Daemon.ROOT.resolve("bin/clustermd").toString(), "run",
                    "--run-dir", dir.resolve("run").toString(), "--metrics", "127.0.0.1:" + taken.getLocalPort(),
                    members.get(0).toString(), members.get(1).toString()));
            assertThat(busy.exitCode()).isEqualTo(1);
            assertThat(busy.stderr()).contains("cannot serve metrics on 127.0.0.1:" + taken.getLocalPort())
                    .contains("give --metrics a free [HOST:]PORT");
        }
        assertThat(dir.resolve("run").resolve("bad.ctl")).doesNotExist();
    }
}
