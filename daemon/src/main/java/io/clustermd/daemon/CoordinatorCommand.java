package io.clustermd.daemon;

import org.apache.zookeeper.server.ServerConfig;
import org.apache.zookeeper.server.ZooKeeperServerMain;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;
import org.apache.zookeeper.server.quorum.QuorumPeerMain;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code clustermd coordinator}: runs one embedded ZooKeeper server in this process, for the
 * {@code zookeeper} lock backend: alone (a single machine, a small lab), or with {@code --id} and
 * {@code --server} as one member of an ensemble of three or five, which rides out the loss of a
 * server (ZooKeeper's {@code server.N} and {@code myid}). It listens on loopback unless told
 * otherwise; a deployment may also point {@code --lock} at an existing ZooKeeper ensemble.
 */
@Command(name = "coordinator", mixinStandardHelpOptions = true,
        description = {"Run an embedded ZooKeeper server for the zookeeper lock backend.",
                "Daemons then use --lock zk://HOST:PORT/clustermd."})
public final class CoordinatorCommand implements Callable<Integer> {

    @CommandLine.Mixin
    LogFormatOption logFormat = new LogFormatOption();
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

    @Option(names = "--id", paramLabel = "N",
            description = "this server's number in an ensemble (ZooKeeper's myid); needs --server for every member")
    Integer id;

    @Option(names = "--server", paramLabel = "N=HOST:PEER_PORT:ELECTION_PORT",
            description = "a member of the ensemble, as ZooKeeper's server.N (repeat for each, this one included); "
                    + "three or five servers ride out the loss of one or two")
    List<String> servers = new ArrayList<>();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final CountDownLatch started = new CountDownLatch(1);
    private volatile Embedded server;

    /** A server that runs until stopped: one alone, or a member of an ensemble. */
    private interface Embedded {
        void stop();
    }

    /** ZooKeeperServerMain with its shutdown reachable. */
    private static final class Standalone extends ZooKeeperServerMain implements Embedded {
        @Override
        public void stop() {
            shutdown();
        }
    }

    /** QuorumPeerMain: one server of an ensemble (leader election, quorum writes). */
    private static final class EnsembleMember extends QuorumPeerMain implements Embedded {
        @Override
        public void stop() {
            close();
        }
    }

    /** {@code --server N=HOST:PEER_PORT:ELECTION_PORT}, checked. */
    record Member(int id, String host, int peerPort, int electionPort) {
        static Member parse(String spec) {
            Matcher m = Pattern.compile("(\\d+)=([^:=\\s]+):(\\d+):(\\d+)").matcher(spec);
            if (!m.matches()) {
                throw new IllegalArgumentException("--server " + spec + " is not N=HOST:PEER_PORT:ELECTION_PORT"
                        + " (e.g. 1=10.0.0.1:2888:3888)");
            }
            int id = Integer.parseInt(m.group(1));
            int peer = Integer.parseInt(m.group(3));
            int election = Integer.parseInt(m.group(4));
            if (id < 1 || id > 255 || peer < 1 || peer > 65535 || election < 1 || election > 65535 || peer == election) {
                throw new IllegalArgumentException("--server " + spec + ": the number must be 1..255 and the two ports "
                        + "different, 1..65535");
            }
            return new Member(id, m.group(2), peer, election);
        }
    }

    /** The ensemble from --id and --server, or empty for a standalone server; refuses inconsistent options. */
    private List<Member> ensemble() {
        if (id == null && servers.isEmpty()) {
            return List.of();
        }
        if (id == null || servers.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "an ensemble needs both --id (this server's "
                    + "number) and --server for every member; a single coordinator needs neither");
        }
        List<Member> members = new ArrayList<>();
        try {
            for (String sv : servers) {
                members.add(Member.parse(sv));
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (members.stream().map(Member::id).distinct().count() != members.size()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--server numbers must be distinct: " + servers);
        }
        if (members.stream().noneMatch(m -> m.id() == id)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--id " + id + " is not among the --server "
                    + "numbers " + members.stream().map(Member::id).toList());
        }
        if (members.size() < 3) {
            LOG.warn("coordinator: an ensemble of {} server(s) stops when any one is lost; use 3 or 5", members.size());
        }
        return members;
    }

    /**
     * ZooKeeper's myid file: written on first start; a data directory that belongs to another
     * server number is refused (its transaction log is that server's).
     */
    private void checkMyid() throws IOException {
        Path myid = dataDir.resolve("myid");
        if (Files.exists(myid)) {
            String found = Files.readString(myid).trim();
            if (!found.equals(Integer.toString(id))) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--data-dir " + dataDir + " belongs to "
                        + "ensemble server " + found + ", not --id " + id + "; give each server its own directory");
            }
        } else {
            Files.writeString(myid, id + "\n");
        }
    }

    @Override
    public Integer call() throws Exception {
        logFormat.apply();
        if (port < 1 || port > 65535) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--port must be 1..65535, got " + port);
        }
        if (tickMs < 100 || tickMs > 60_000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tick-ms must be 100..60000, got " + tickMs);
        }
        List<Member> members = ensemble();   // checked before anything is created
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
        if (!members.isEmpty()) {
            checkMyid();
            // a follower has initLimit ticks to load the leader's state and syncLimit to keep up
            p.setProperty("initLimit", "10");
            p.setProperty("syncLimit", "5");
            for (Member m : members) {
                p.setProperty("server." + m.id(), m.host() + ":" + m.peerPort() + ":" + m.electionPort());
            }
        }
        QuorumPeerConfig qpc = new QuorumPeerConfig();
        qpc.parseProperties(p);
        String where = address.getHostAddress() + ":" + port;
        if (members.isEmpty()) {
            ServerConfig config = new ServerConfig();
            config.readFrom(qpc);
            Standalone zk = new Standalone();
            if (System.getProperty("zookeeper.serverCnxnFactory") == null) {
                System.setProperty("zookeeper.serverCnxnFactory", DataFirstCnxnFactory.class.getName());
            }
            runUntilStopped(zk, () -> zk.runFromConfig(config), "ZooKeeper " + org.apache.zookeeper.Version.getFullVersion()
                    + " serving on " + where + ", data in " + dataDir + "; daemons use --lock zk://" + where + "/clustermd");
        } else {
            EnsembleMember zk = new EnsembleMember();
            runUntilStopped(zk, () -> zk.runFromConfig(qpc), "ZooKeeper " + org.apache.zookeeper.Version.getFullVersion()
                    + " ensemble server " + id + " of " + members.size() + " serving on " + where + ", data in " + dataDir
                    + "; daemons list every server: --lock zk://HOST:PORT,HOST:PORT,.../clustermd");
        }
        return 0;
    }

    private interface ServerRun {
        void run() throws Exception;
    }

    private void runUntilStopped(Embedded zk, ServerRun run, String banner) throws Exception {
        server = zk;
        Thread hook = new Thread(zk::stop, "coordinator-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        LOG.info("coordinator: {}", banner);
        started.countDown();
        run.run(); // blocks until shutdown
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running
        }
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
