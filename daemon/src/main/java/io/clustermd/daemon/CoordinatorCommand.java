package io.clustermd.daemon;

import org.apache.zookeeper.server.ServerConfig;
import org.apache.zookeeper.server.ZooKeeperServerMain;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code clustermd coordinator}: runs one embedded ZooKeeper server in this process, for the
 * {@code zookeeper} lock backend on a single machine (or a small lab). It listens on loopback
 * unless told otherwise; a real deployment points {@code --lock} at a ZooKeeper ensemble instead.
 */
@Command(name = "coordinator", mixinStandardHelpOptions = true,
        description = {"Run an embedded ZooKeeper server for the zookeeper lock backend.",
                "Daemons then use --lock zk://HOST:PORT/clustermd."})
public final class CoordinatorCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(CoordinatorCommand.class);

    @Option(names = "--port", defaultValue = "2181", description = "client port (default ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1",
            description = "address to listen on (default ${DEFAULT-VALUE}); ZooKeeper has no authentication here: "
                    + "bind a private network only")
    String bind;

    @Option(names = "--data-dir", defaultValue = "/var/lib/clustermd/coordinator",
            description = "where ZooKeeper keeps its snapshots and transaction log (default ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--tick-ms", defaultValue = "500",
            description = "ZooKeeper tick; session timeouts are clamped to 2..20 ticks (default ${DEFAULT-VALUE})")
    int tickMs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final CountDownLatch started = new CountDownLatch(1);
    private volatile Embedded server;

    /** ZooKeeperServerMain with its shutdown reachable. */
    private static final class Embedded extends ZooKeeperServerMain {
        void stop() {
            shutdown();
        }
    }

    @Override
    public Integer call() throws Exception {
        if (port < 1 || port > 65535) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--port must be 1..65535, got " + port);
        }
        if (tickMs < 100 || tickMs > 60_000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tick-ms must be 100..60000, got " + tickMs);
        }
        try {
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "cannot create --data-dir " + dataDir + ": " + e
                    + " (pick a writable directory)");
        }
        if (!Files.isWritable(dataDir)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--data-dir " + dataDir + " is not writable");
        }
        InetAddress address = InetAddress.getByName(bind);
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(address, port));
        } catch (IOException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), bind + ":" + port + " is not free (" + e.getMessage()
                    + "); is another coordinator or ZooKeeper running? Use --port");
        }
        // No Jetty admin server, and only harmless four-letter words (health checks: echo ruok | nc).
        System.setProperty("zookeeper.admin.enableServer", "false");
        System.setProperty("zookeeper.4lw.commands.whitelist", "ruok,srvr,stat,mntr");
        Properties p = new Properties();
        p.setProperty("dataDir", dataDir.toAbsolutePath().toString());
        p.setProperty("clientPort", Integer.toString(port));
        p.setProperty("clientPortAddress", address.getHostAddress());
        p.setProperty("tickTime", Integer.toString(tickMs));
        p.setProperty("maxClientCnxns", "0");
        p.setProperty("autopurge.snapRetainCount", "3");
        p.setProperty("autopurge.purgeInterval", "1");
        QuorumPeerConfig qpc = new QuorumPeerConfig();
        qpc.parseProperties(p);
        ServerConfig config = new ServerConfig();
        config.readFrom(qpc);
        Embedded zk = new Embedded();
        server = zk;
        Thread hook = new Thread(zk::stop, "coordinator-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        String where = address.getHostAddress() + ":" + port;
        LOG.info("coordinator: ZooKeeper {} serving on {}, data in {}; daemons use --lock zk://{}/clustermd",
                org.apache.zookeeper.Version.getFullVersion(), where, dataDir, where);
        started.countDown();
        zk.runFromConfig(config); // blocks until shutdown
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running
        }
        return 0;
    }

    /** Stops a running coordinator (for tests and embedding). */
    void stop() {
        Embedded zk = server;
        if (zk != null) {
            zk.stop();
        }
    }

    boolean awaitStarted(long millis) throws InterruptedException {
        return started.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }
}
