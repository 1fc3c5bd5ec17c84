package io.clustermd.daemon;

import ch.qos.logback.classic.LoggerContext;
import io.clustermd.daemon.array.ArrayBlockBackend;
import io.clustermd.daemon.array.ArrayControlAdapter;
import io.clustermd.daemon.array.FaultSwitchboard;
import io.clustermd.daemon.array.FileSyncCheckpointStore;
import io.clustermd.daemon.array.MemberPresenceWatch;
import io.clustermd.daemon.array.UringMemberQueue;
import io.clustermd.md.io.FileMemberDevice;
import io.clustermd.daemon.control.ControlServer;
import io.clustermd.md.array.SlotBitmapOps;
import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.array.ArrayAssembler;
import io.clustermd.md.array.AssemblyPlan;
import io.clustermd.md.array.BitmapOps;
import io.clustermd.md.array.LocalClusterOperations;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.io.DirectIoQueue;
import io.clustermd.md.io.FaultInjectingMemberDevice;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberDevices;
import io.clustermd.nbd.NbdExport;
import io.clustermd.nbd.NbdListener;
import io.clustermd.nbd.NbdServer;
import io.clustermd.nbd.uring.IoUringQueue;
import io.clustermd.daemon.config.ConfigFile;
import io.clustermd.daemon.metrics.DaemonMetrics;
import io.clustermd.daemon.metrics.IoMetrics;
import io.clustermd.daemon.systemd.ServiceStatus;
import io.clustermd.daemon.systemd.SystemdNotifier;
import io.netty.channel.EventLoopGroup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code clustermd run}: assembles one array from its members and serves it over NBD until stopped
 * (md's {@code mdadm --assemble} + {@code /dev/mdX}, in one process). SIGTERM or
 * {@code clusterctl stop} stop it cleanly: requests in flight finish, the bitmap is flushed, the
 * superblocks are updated, exit code 0.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Assemble an array from its members and serve it over NBD until SIGTERM or 'clusterctl stop'.",
                "The freshest members form the array; members more than one event behind are stale and are",
                "left out until re-added ('clusterctl re-add')."})
public final class RunCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(RunCommand.class);

    @Parameters(arity = "0..*", paramLabel = "MEMBER",
            description = "member files or block devices (or 'member = PATH' lines in --config)")
    List<Path> members;

    @Option(names = "--config", paramLabel = "FILE",
            description = {"read options from FILE (e.g. /etc/clustermd/NAME.conf): 'key = value' lines, keys are the"
                    + " long options without dashes ('lock = dlm', 'nbd = unix:/run/clustermd/md0.nbd'), 'member ="
                    + " PATH' once per member, '#' comments; options on the command line win"})
    Path config;

    @Option(names = "--name", paramLabel = "NAME", description = "array name for sockets and logs (default: from the superblock)")
    String name;

    @Option(names = "--nbd", paramLabel = "ADDR",
            description = "unix:PATH or tcp:HOST:PORT, repeatable (default: unix:RUN_DIR/NAME.nbd)")
    List<String> nbd = new ArrayList<>();

    @Option(names = "--control", paramLabel = "PATH", description = "control socket (default: RUN_DIR/NAME.ctl)")
    Path control;

    @Option(names = "--run-dir", paramLabel = "DIR", description = "directory for sockets (default: ${DEFAULT-VALUE})")
    Path runDir = Path.of("/run/clustermd");

    @Option(names = "--buffered", description = "use the page cache instead of O_DIRECT (single-node experiments only;"
            + " a crash may lose writes the disks never saw)")
    boolean buffered;

    @Option(names = "--io-threads", paramLabel = "N",
            description = "member I/O threads for what does not go through io_uring: resync, metadata, misaligned"
                    + " requests, and all member I/O with another transport (default: ${DEFAULT-VALUE})")
    int ioThreads = 64; // one blocking O_DIRECT write per thread: QD32 x 2 members without io_uring

    @Option(names = "--transport", paramLabel = "T",
            description = "AUTO (io_uring, else epoll, else NIO), IO_URING (NBD sockets and member I/O on the same"
                    + " io_uring: no thread hand-off), EPOLL or NIO (member I/O on the I/O threads)"
                    + " (default: ${DEFAULT-VALUE})")
    NbdServer.Transport transport = NbdServer.Transport.AUTO;

    @Option(names = "--event-loops", paramLabel = "N",
            description = "NBD event-loop threads (default: number of cores, at most 4)")
    Integer eventLoops;

    @Option(names = "--speed-limit-min", paramLabel = "KIB", description = "resync floor while the array is busy, KiB/s (default: ${DEFAULT-VALUE})")
    long speedLimitMin = 1000;

    @Option(names = "--speed-limit-max", paramLabel = "KIB", description = "resync ceiling when idle, KiB/s (default: ${DEFAULT-VALUE})")
    long speedLimitMax = 200000;

    @CommandLine.Mixin
    NbdLimitOptions nbdLimits = new NbdLimitOptions();

    @CommandLine.Mixin
    LogFormatOption logFormat = new LogFormatOption();

    @CommandLine.Mixin
    NbdTlsOptions nbdTls = new NbdTlsOptions();

    @Option(names = "--lock", paramLabel = "URI",
            description = {"lock manager of a clustered array: zk://HOST:PORT[,HOST:PORT...][/CHROOT] (ZooKeeper, e.g."
                    + " 'clustermd coordinator') or dlm (the kernel DLM through libdlm). Required for arrays created"
                    + " with --bitmap=clustered, refused for others."})
    String lock;

    @Option(names = "--node-name", paramLabel = "NAME",
            description = "this node's name in the lock manager (default: the host name); every daemon of one array"
                    + " needs its own")
    String nodeName;

    @Option(names = "--lock-session-timeout", paramLabel = "SECONDS",
            description = "ZooKeeper session timeout: a node silent this long is dead and its slot is recovered;"
                    + " a node cut off from ZooKeeper for nearly this long stops its member I/O (default: ${DEFAULT-VALUE})")
    int lockSessionTimeout = (int) io.clustermd.daemon.cluster.ClusterMembership.DEFAULT_SESSION_TIMEOUT.toSeconds();

    @Option(names = "--join-timeout", paramLabel = "SECONDS",
            description = "how long joining the cluster may take, lock manager connection included (default: ${DEFAULT-VALUE})")
    int joinTimeout = 60;

    @Option(names = "--on-fence", paramLabel = "ACTION",
            description = {"what a node that lost its lock manager does once its member I/O has stopped: rejoin (wait"
                    + " for the lock manager, join again as a new member and serve again; NBD clients reconnect) or"
                    + " exit (status 75, for a supervisor that restarts it) (default: ${DEFAULT-VALUE})"})
    String onFence = "rejoin";

    @Option(names = "--rejoin-timeout", paramLabel = "SECONDS",
            description = "how long a fenced node keeps trying to rejoin before it exits with status 75"
                    + " (default: ${DEFAULT-VALUE})")
    int rejoinTimeout = 600;

    @Option(names = "--device-path", paramLabel = "DIR",
            description = {"where to look for a member that another node adds or brings back (clustered arrays;"
                    + " repeatable): the device is found by the md superblock on it. Searched first, then the"
                    + " directories of the current members, then /dev/disk/by-id"})
    List<Path> devicePaths = new ArrayList<>();

    @Option(names = "--metrics", paramLabel = "ADDR",
            description = {"serve Prometheus metrics (GET /metrics) on [HOST:]PORT; HOST defaults to 127.0.0.1 (there is"
                    + " no authentication: bind loopback or a management network). Off by default"})
    String metrics;

    @Option(names = "--fault-dir", paramLabel = "DIR", hidden = true,
            description = "fault injection for tests: a file named after a member switches its faults")
    Path faultDir;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * One membership of the node, from its join to its stop or fence; a rejoin after a fence is a
     * new round with new members, array and NBD server, so nothing of the fenced one is reused.
     *
     * @param fenced why this round may no longer touch the members (it lost its lock manager), or null
     */
    private record Round(CountDownLatch stopRequested, AtomicReference<String> fenced, AtomicBoolean stopped,
                         AtomicBoolean serving) {
        Round() {
            this(new CountDownLatch(1), new AtomicReference<>(), new AtomicBoolean(), new AtomicBoolean(true));
        }
    }

    private volatile Round round = new Round();
    /** The service manager (systemd {@code Type=notify}), or nobody. */
    private SystemdNotifier notifier = SystemdNotifier.NONE;
    /** SIGTERM/SIGINT or a JVM shutdown: no rejoin after the current round. */
    private volatile boolean terminating;
    private volatile NbdServer nbdServer;
    /** The export's TLS (--tls-cert, --tls-key, --tls-ca), or null. */
    private io.clustermd.nbd.NbdTls tls;
    private volatile MdArray mdArray;
    /** {@code EX_TEMPFAIL}: the node was fenced (and did not rejoin); a supervisor may restart it. */
    static final int EXIT_FENCED = 75;

    @Override
    public Integer call() throws Exception {
        if (config != null) {
            try {
                ConfigFile.read(config).applyTo(spec, "member", RunCommand::new, List.of("--config"));
            } catch (ConfigFile.ConfigException e) {
                spec.commandLine().getErr().println("clustermd run: " + e.getMessage());
                return 2;
            }
        }
        logFormat.apply();
        if (members == null || members.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give the array's members: MEMBER... on the"
                    + " command line, or 'member = PATH' lines in the --config file");
        }
        if (metrics != null) {
            metricsAddress(metrics);   // a bad address is refused before anything is opened
        }
        if (!onFence.equals("rejoin") && !onFence.equals("exit")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--on-fence is rejoin or exit, got '"
                    + onFence + "'");
        }
        // Before anything is opened or joined: a TLS file that cannot be used stops the start here.
        try {
            tls = nbdTls.load(spec);
        } catch (io.clustermd.nbd.NbdTls.InvalidTlsFileException e) {
            return fail("TLS: " + e.getMessage());
        }
        // SIGTERM/SIGINT are handled, not left to the JVM's shutdown: the main thread stops the array
        // and the process exits 0 after a clean stop (a JVM shutdown would exit 143 and race the stop).
        CountDownLatch done = new CountDownLatch(1);
        notifier = SystemdNotifier.fromEnvironment(System.getenv(), ProcessHandle.current().pid());
        for (String sig : List.of("TERM", "INT")) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> terminate());
        }
        // Any other way the JVM goes down (System.exit elsewhere, SIGHUP): still stop cleanly first.
        Thread hook = new Thread(() -> {
            terminate();
            try {
                done.await(60, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "clustermd-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            int rc = serveOnce();
            if (rc != EXIT_FENCED || onFence.equals("exit")) {
                return rc;
            }
            return rejoin();
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running
            }
        }
    }

    private void terminate() {
        terminating = true;
        round.stopRequested().countDown();
    }

    /**
     * After a fence: join again as a new member (md-cluster's node after its DLM recovery), until
     * it works, a stop is asked for, or {@code --rejoin-timeout} passes. Each try is a whole start
     * (lock manager, join, members, NBD), bounded by {@code --join-timeout}; between tries 1, 2, 4,
     * up to 10 s.
     */
    private int rejoin() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(rejoinTimeout);
        long backoffMs = 1000;
        int tries = 0;
        while (!terminating) {
            if (System.nanoTime() > deadline) {
                log.error("could not rejoin within --rejoin-timeout {} s ({} tries); exiting with {} for a supervisor",
                        rejoinTimeout, tries, EXIT_FENCED);
                return EXIT_FENCED;
            }
            Round pause = new Round();
            round = pause;                       // a SIGTERM now ends the pause and the loop
            if (terminating) {
                return 0;
            }
            pause.stopRequested().await(backoffMs, TimeUnit.MILLISECONDS);
            if (terminating) {
                return 0;
            }
            tries++;
            log.warn("fenced node: rejoining the array as a new member (try {}, lock manager {})", tries, lock);
            notifier.status("fenced: rejoining the array as a new member (try " + tries + ", lock manager " + lock + ")");
            round = new Round();
            int rc = serveOnce();
            if (rc != EXIT_FENCED && rc != 1) {
                return rc;                       // served, then stopped cleanly
            }
            if (terminating) {
                return 0;
            }
            if (rc == EXIT_FENCED) {
                // it served, then was fenced again: a new series of tries
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(rejoinTimeout);
                backoffMs = 1000;
                tries = 0;
            } else {
                backoffMs = Math.min(backoffMs * 2, 10_000);   // the lock manager (or the join) is not back yet
            }
        }
        return 0;
    }

    /** One round: join (clustered), assemble, serve until stopped or fenced. 0, 1 (failed to start) or 75. */
    private int serveOnce() throws Exception {
        Round r = round;
        List<Path> paths = members.stream().map(p -> p.toAbsolutePath().normalize()).toList();
        List<MemberMetadata> metadata = new ArrayList<>();
        for (Path p : paths) {
            try {
                metadata.add(MemberMetadataReader.read(p));
            } catch (NoSuchFileException e) {
                return fail(p + ": no such file or device");
            } catch (MdFormatException | IOException e) {
                return fail(e.getMessage());
            }
        }
        AssemblyPlan plan;
        try {
            plan = ArrayAssembler.plan(metadata);
        } catch (MdFormatException e) {
            return fail(e.getMessage());
        }
        MdSuperblock ref = plan.reference();
        String arrayName = name != null ? name : ref.name().substring(ref.name().indexOf(':') + 1);
        if (arrayName.isEmpty() || arrayName.contains("/")) {
            return fail("array name '" + arrayName + "' cannot name a socket; give --name");
        }
        ((LoggerContext) LoggerFactory.getILoggerFactory()).putProperty("array", arrayName);
        boolean clustered = ref.hasFeature(MdSuperblock.FEATURE_CLUSTERED);
        String uuid = MdSuperblock.mdadmUuid(ref.setUuid());
        if (clustered && lock == null) {
            return fail("array " + arrayName + " (" + uuid + ") is clustered: give its lock manager with --lock"
                    + " zk://HOST:PORT/clustermd (start one with 'clustermd coordinator --data-dir DIR', or use a"
                    + " ZooKeeper ensemble) or --lock dlm (kernel DLM with corosync and dlm_controld)");
        }
        if (!clustered && lock != null) {
            return fail("array " + arrayName + " (" + uuid + ") is not clustered (its bitmap is "
                    + (ref.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET) ? "internal" : "none")
                    + "): drop --lock; arrays several nodes share are created with --bitmap=clustered");
        }
        if (clustered && buffered) {
            return fail("--buffered cannot be used with a clustered array: other nodes would not see what this"
                    + " node's page cache holds; drop --buffered");
        }
        if (lockSessionTimeout < 1 || lockSessionTimeout > 60 || joinTimeout < 1 || rejoinTimeout < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--lock-session-timeout must be 1..60,"
                    + " --join-timeout at least 1 and --rejoin-timeout at least 0 (seconds)");
        }
        for (Path d : devicePaths) {
            if (!Files.isDirectory(d)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--device-path " + d
                        + " is not a directory (give the directory where other nodes' new members appear)");
            }
        }
        io.clustermd.daemon.cluster.ClusterMembership membership = null;
        if (clustered) {
            // Our slot before anything touches the members; then the members as they are now that we
            // hold it (another node may have changed them while we looked).
            var bitmapSb = plan.members().get(0).metadata().bitmap();
            notifier.status(arrayName + ": joining the cluster of array " + uuid + " through " + lock);
            try {
                membership = io.clustermd.daemon.cluster.ClusterMembership.join(lock,
                        nodeName, ref, bitmapSb.nodes(), bitmapSb.clusterName(),
                        java.time.Duration.ofSeconds(lockSessionTimeout), java.time.Duration.ofSeconds(joinTimeout),
                        () -> fence(r, "lost the lock manager"));
            } catch (io.clustermd.daemon.cluster.ClusterMembership.JoinException e) {
                return fail(e.getMessage());
            }
            ((LoggerContext) LoggerFactory.getILoggerFactory()).putProperty("slot", Integer.toString(membership.slot()));
            try {
                metadata.clear();
                for (Path p : paths) {
                    metadata.add(MemberMetadataReader.read(p));
                }
                plan = ArrayAssembler.plan(metadata);
                ref = plan.reference();
                // Members other nodes added since this command line was written: found as an add finds
                // them. Running without one would fail it for every node at our first superblock write.
                List<Path> found = missingMembers(ref, metadata, paths);
                if (!found.isEmpty()) {
                    for (Path p : found) {
                        metadata.add(MemberMetadataReader.read(p));
                    }
                    plan = ArrayAssembler.plan(metadata);
                    ref = plan.reference();
                }
            } catch (MdFormatException | IOException e) {
                membership.operations().leave();
                membership.close();
                return fail(e.getMessage());
            }
        }
        for (AssemblyPlan.Planned s : plan.stale()) {
            log.warn("{}: stale (events {} < {}): left out; bring it back with 'clusterctl re-add {}'",
                    s.metadata().device(), s.metadata().superblock().events(), ref.events(), s.metadata().device());
        }

        Files.createDirectories(runDir);
        Path controlPath = control != null ? control : runDir.resolve(arrayName + ".ctl");
        List<NbdListener> listeners = new ArrayList<>();
        if (nbd.isEmpty()) {
            listeners.add(new NbdListener.Unix(runDir.resolve(arrayName + ".nbd")));
        }
        for (String l : nbd) {
            try {
                listeners.add(NbdListener.parse(l));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--nbd " + e.getMessage());
            }
        }

        if (ioThreads < 1 || eventLoops != null && eventLoops < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--io-threads and --event-loops must be at least 1");
        }
        io.clustermd.nbd.NbdServerConfig nbdConfig = nbdLimits.toConfig(spec);
        NbdTlsOptions.warnIfReachable(listeners, tls);
        NbdServer.Transport resolved;
        try {
            resolved = NbdServer.resolve(transport);
        } catch (Throwable e) {
            return fail("transport " + transport + " is not available here (" + e.getMessage()
                    + "); use --transport AUTO");
        }
        // The event loops exist before the members are opened: with io_uring, member I/O is submitted
        // to the ring of the loop that serves the request.
        EventLoopGroup loops = NbdServer.newEventLoopGroup(resolved,
                eventLoops != null ? eventLoops : Math.min(4, Runtime.getRuntime().availableProcessors()));
        IoUringQueue ring = null;
        if (resolved == NbdServer.Transport.IO_URING) {
            try {
                ring = new IoUringQueue(loops);
            } catch (IOException e) {
                loops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                return fail("cannot use io_uring for member I/O: " + e.getMessage() + "; use --transport EPOLL");
            }
        }
        DirectIoQueue memberQueue = ring == null ? null : new UringMemberQueue(ring);
        ExecutorService io = Executors.newFixedThreadPool(ioThreads,
                Thread.ofPlatform().name("md-io-", 0).daemon().factory());
        ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(1,
                Thread.ofPlatform().name("md-daemon").daemon().factory());
        FaultSwitchboard faults = faultDir == null ? null : new FaultSwitchboard(faultDir, scheduler);
        MemberPresenceWatch presence = new MemberPresenceWatch(scheduler, 2000);
        List<MemberDevice> devices = new ArrayList<>();
        MdArray array;
        try {
            for (AssemblyPlan.Planned p : plan.members()) {
                devices.add(open(Path.of(p.metadata().device()), io, memberQueue, faults, presence, r));
            }
            BitmapOps bitmap = SlotBitmapOps.forArray(plan, devices, membership == null ? 0 : membership.slot());
            array = MdArray.open(plan, devices, bitmap, new MdArray.Settings(arrayName, InstantSource.system(),
                    new java.security.SecureRandom(), scheduler,
                    membership == null ? new LocalClusterOperations() : membership.operations(),
                    speedLimitMin, speedLimitMax,
                    new FileSyncCheckpointStore(runDir.resolve(arrayName + ".sync"), MdSuperblock.mdadmUuid(ref.setUuid()))));
            if (membership != null) {
                MdArray opened = array;
                membership.bind(array, new io.clustermd.daemon.array.DeviceSearch(devicePaths,
                        () -> opened.snapshot().members().stream().map(MdArray.MemberView::device).toList(),
                        path -> open(path, io, memberQueue, faults, presence, r)));
            }
            array.activate();
            if (membership != null) {
                membership.recoverAbandonedSlots();
            }
        } catch (MdFormatException | IOException | RuntimeException e) {
            devices.forEach(MemberDevice::close);
            io.shutdown();
            scheduler.shutdown();
            closeLoops(ring, loops);
            if (membership != null) {
                membership.abandon(e);
                membership.operations().leave();
                membership.close();
            }
            return fail(e instanceof RuntimeException ? MdArray.describe(e) : e.getMessage());
        }

        NbdServer server;
        ControlServer controlServer;
        DaemonMetrics metricsEndpoint = metrics == null ? null : new DaemonMetrics(arrayName);
        IoMetrics ioMetrics = metricsEndpoint == null ? IoMetrics.NONE : metricsEndpoint.io();
        try {
            NbdServer.Builder builder = NbdServer.builder()
                    .export(new NbdExport("", "clustermd array " + arrayName, new ArrayBlockBackend(array, ioMetrics)))
                    .export(new NbdExport(arrayName, "clustermd array " + arrayName,
                            new ArrayBlockBackend(array, ioMetrics)));
            listeners.forEach(builder::listen);
            builder.transport(resolved).eventLoopGroup(loops).config(nbdConfig).tls(tls);
            server = builder.start();
            presence.attach(array);
            nbdServer = server;
            mdArray = array;
            // clusterctl stop: stop serving and stop the array before answering; exit after the answer.
            ArrayControlAdapter adapter = new ArrayControlAdapter(array,
                    path -> open(path, io, memberQueue, faults, presence, r), this::stopServing, 5);
            if (membership != null) {
                adapter.clusterStatus(membership::status, membership::remoteWindowCount);
            }
            controlServer = ControlServer.start(controlPath, adapter, r.stopRequested()::countDown);
            if (metricsEndpoint != null) {
                metricsEndpoint.sources(array::snapshot, server::stats, membership == null ? null : membership::status);
                metricsEndpoint.bitmapPageWrites(array::bitmapPageWrites);
                if (membership != null) {
                    metricsEndpoint.clustered(membership.lockspace(), membership::messageTimeouts);
                }
                try {
                    metricsEndpoint.serve(metricsAddress(metrics));
                } catch (IOException e) {
                    controlServer.close();
                    server.close();
                    throw new IOException("cannot serve metrics on " + metrics + " (" + e.getMessage()
                            + "): give --metrics a free [HOST:]PORT", e);
                }
            }
        } catch (IOException | RuntimeException e) {
            array.stop();
            closeLoops(ring, loops);
            if (metricsEndpoint != null) {
                metricsEndpoint.close();
            }
            return fail("cannot listen: " + e.getMessage());
        }
        log.info("array {} ({}) running: {} bytes, {} member(s); NBD on {}; control socket {}", arrayName,
                MdSuperblock.mdadmUuid(ref.setUuid()), array.size(), devices.size(), listeners, controlPath);
        tellServiceManager(array, membership, scheduler, loops);

        r.stopRequested().await();
        if (metricsEndpoint != null) {
            metricsEndpoint.close();
        }
        shutdown(server, array, controlServer, io, scheduler, r);
        closeLoops(ring, loops);
        if (membership != null) {
            membership.close();
        }
        if (r.fenced().get() != null) {
            log.error("stopped after being fenced ({}); {}", r.fenced().get(), onFence.equals("rejoin") && !terminating
                    ? "rejoining as a new member once the lock manager answers"
                    : "start the daemon again to rejoin as a new node");
            return EXIT_FENCED;
        }
        return 0;
    }

    /** {@code --metrics [HOST:]PORT}; HOST defaults to loopback. */
    private java.net.InetSocketAddress metricsAddress(String value) {
        int colon = value.lastIndexOf(':');
        String host = colon < 0 ? "127.0.0.1" : value.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        try {
            int port = Integer.parseInt(value.substring(colon + 1));
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return new java.net.InetSocketAddress(java.net.InetAddress.getByName(host), port);
        } catch (NumberFormatException | java.net.UnknownHostException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--metrics is [HOST:]PORT (e.g. 9750 or"
                    + " 127.0.0.1:9750), got '" + value + "'");
        }
    }

    /**
     * The array serves: READY=1 to the service manager, then its state every few seconds when it
     * changes, and watchdog pings that go through an NBD event loop (a hung loop stops them, and
     * systemd restarts the daemon after {@code WatchdogSec}).
     */
    private void tellServiceManager(MdArray array, io.clustermd.daemon.cluster.ClusterMembership membership,
                                    ScheduledExecutorService scheduler, EventLoopGroup loops) {
        if (!notifier.enabled()) {
            return;
        }
        java.util.function.Supplier<String> line = () -> ServiceStatus.line(array.snapshot(),
                membership == null ? null : "cluster slot " + membership.slot() + " through " + lock);
        notifier.ready(line.get());
        AtomicReference<String> last = new AtomicReference<>("");
        scheduler.scheduleWithFixedDelay(() -> {
            String now = line.get();
            if (!now.equals(last.getAndSet(now))) {
                notifier.status(now);
            }
        }, 5, 5, TimeUnit.SECONDS);
        notifier.watchdogTimeout().ifPresent(timeout -> {
            long every = Math.max(100, timeout.toMillis() / 3);
            log.info("service manager watchdog: {} ms; pinging every {} ms through the NBD event loops",
                    timeout.toMillis(), every);
            scheduler.scheduleAtFixedRate(() -> loops.next().execute(notifier::watchdog), 0, every,
                    TimeUnit.MILLISECONDS);
        });
    }

    /**
     * This node lost its lock manager: its members take no more I/O from now (other nodes are about
     * to recover its slot), requests in flight fail, and the daemon stops.
     */
    private static void fence(Round r, String why) {
        r.fenced().set(why);
        r.stopRequested().countDown();
    }

    /** Stops NBD service and the array (requests in flight finish first); idempotent. */
    private void stopServing() {
        if (!round.serving().compareAndSet(true, false)) {
            return;
        }
        log.info("stopping: finishing requests in flight, flushing the bitmap, updating superblocks");
        notifier.stopping("stopping: finishing requests in flight, flushing the bitmap, updating superblocks");
        try {
            nbdServer.close();
        } catch (RuntimeException e) {
            log.warn("NBD server close: {}", e.getMessage());
        }
        mdArray.stop();
    }

    private void shutdown(NbdServer server, MdArray array, ControlServer controlServer, ExecutorService io,
                          ScheduledExecutorService scheduler, Round r) {
        if (!r.stopped().compareAndSet(false, true)) {
            return;
        }
        stopServing();
        controlServer.close();
        io.shutdown();
        scheduler.shutdown();
        log.info("stopped cleanly");
    }

    /** After the array stopped (its members are closed): nothing can be queued on the rings any more. */
    private static void closeLoops(IoUringQueue ring, EventLoopGroup loops) {
        if (ring != null) {
            ring.close();
        }
        loops.shutdownGracefully(0, 5, TimeUnit.SECONDS).awaitUninterruptibly();
    }

    /**
     * The members holding a role in the array's newest superblock that were not given: looked for in
     * the device search directories ({@code --device-path}, the given members' directories,
     * /dev/disk/by-id).
     *
     * @throws MdFormatException naming a member that is not found
     */
    private List<Path> missingMembers(MdSuperblock ref, List<MemberMetadata> given, List<Path> paths)
            throws MdFormatException {
        java.util.Set<Integer> numbers = new java.util.HashSet<>();
        given.forEach(m -> numbers.add(m.superblock().devNumber()));
        io.clustermd.daemon.array.DeviceSearch search = new io.clustermd.daemon.array.DeviceSearch(devicePaths,
                () -> paths.stream().map(Path::toString).toList(), null);
        List<Path> found = new ArrayList<>();
        for (int n = 0; n < ref.maxDev(); n++) {
            int role = ref.devRole(n);
            if (role >= MdSuperblock.ROLE_MAX || numbers.contains(n)) {
                continue;
            }
            Path p = search.find(ref.setUuid(), n, null);
            if (p == null) {
                throw new MdFormatException("member " + n + " (role " + role + ") of array "
                        + MdSuperblock.mdadmUuid(ref.setUuid()) + " is neither among the members given nor in "
                        + search.directories() + ": give it, or the directory it is in with --device-path"
                        + " (without it this node would fail it for every node)");
            }
            log.info("member {} (role {}) was not given; found at {}", n, role, p);
            found.add(p);
        }
        return found;
    }

    private MemberDevice open(Path path, ExecutorService io, DirectIoQueue queue, FaultSwitchboard faults,
                              MemberPresenceWatch presence, Round r) throws IOException {
        FileMemberDevice device = MemberDevices.open(path,
                FileMemberDevice.Options.DEFAULT.withDirect(!buffered).withShared(lock != null), io, queue);
        presence.watch(device.name(), device);
        MemberDevice opened = device;
        if (faults != null) {
            FaultInjectingMemberDevice wrapped = new FaultInjectingMemberDevice(device, io);
            faults.register(path.toString(), wrapped);
            opened = wrapped;
        }
        return lock == null ? opened : new io.clustermd.daemon.array.FencedMemberDevice(opened, r.fenced()::get);
    }

    private int fail(String message) {
        spec.commandLine().getErr().println("clustermd: " + message);
        return 1;
    }
}
