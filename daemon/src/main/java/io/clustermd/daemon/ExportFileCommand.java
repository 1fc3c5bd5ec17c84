package io.clustermd.daemon;

import io.clustermd.nbd.NbdExport;
import io.clustermd.nbd.NbdListener;
import io.clustermd.nbd.NbdServer;
import io.clustermd.nbd.NbdServerConfig;
import io.clustermd.nbd.NbdTls;
import io.clustermd.nbd.file.FileBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clustermd export-file FILE}: serves one plain file or block device over NBD, with no
 * array, bitmap or lock manager in between (what {@code nbdkit file} or {@code qemu-nbd} do). Used
 * to measure the NBD stack on its own and to hand a disk image to an NBD client.
 */
@Command(name = "export-file", mixinStandardHelpOptions = true,
        description = {"Serve a file or block device over NBD (O_DIRECT by default) until SIGTERM/SIGINT.",
                "Attach it with e.g. 'nbd-client -N \"\" 127.0.0.1 10809 /dev/nbd0' or 'nbdinfo nbd://127.0.0.1'.",
                "With --tls-cert/--tls-key clients must use TLS: 'nbdinfo \"nbds://localhost?tls-certificates=DIR\"'."})
public final class ExportFileCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ExportFileCommand.class);

    @Parameters(index = "0", paramLabel = "FILE", description = "regular file or block device to export")
    Path file;

    @Option(names = {"--nbd", "-l", "--listen"}, paramLabel = "ADDR",
            description = "tcp:HOST:PORT or unix:PATH, repeatable, as 'clustermd run --nbd' (default:"
                    + " tcp:127.0.0.1:10809); -l/--listen: the former spelling, still accepted")
    List<String> listen = new ArrayList<>();

    @Option(names = {"-r", "--read-only"}, description = "refuse writes (EPERM)")
    boolean readOnly;

    @Option(names = "--buffered", description = "use the page cache instead of O_DIRECT (single-node experiments only)")
    boolean buffered;

    @Option(names = {"-n", "--name"}, paramLabel = "NAME", description = "export name (default: \"\"; clients asking for \"\" always get this export)")
    String name = "";

    @Option(names = "--description", paramLabel = "TEXT", description = "export description shown by nbdinfo")
    String description;

    @Option(names = "--io-threads", paramLabel = "N", description = "threads doing file I/O (default: ${DEFAULT-VALUE})")
    int ioThreads = FileBackend.Options.DEFAULTS.ioThreads();

    @Option(names = "--event-loops", paramLabel = "N", description = "network event-loop threads (default: number of cores, at most 4)")
    Integer eventLoops;

    @CommandLine.Mixin
    NbdLimitOptions limits = new NbdLimitOptions();

    @CommandLine.Mixin
    NbdTlsOptions tlsOptions = new NbdTlsOptions();

    @CommandLine.Mixin
    LogFormatOption logFormat = new LogFormatOption();

    @Option(names = "--transport", paramLabel = "T",
            description = "AUTO (io_uring, else epoll, else NIO), EPOLL, IO_URING (socket and file I/O on the same io_uring, no thread hand-off) or NIO (default: ${DEFAULT-VALUE})")
    NbdServer.Transport transport = NbdServer.Transport.AUTO;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        logFormat.apply();
        List<NbdListener> listeners = new ArrayList<>();
        if (listen.isEmpty()) {
            listeners.add(new NbdListener.Tcp("127.0.0.1", NbdListener.DEFAULT_PORT));
        }
        for (String l : listen) {
            try {
                listeners.add(NbdListener.parse(l));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--listen " + e.getMessage());
            }
        }
        if (ioThreads < 1 || (eventLoops != null && eventLoops < 1)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--io-threads and --event-loops must be at least 1");
        }
        NbdServerConfig config = limits.toConfig(spec);
        NbdTls tls;
        try {
            tls = tlsOptions.load(spec);
        } catch (NbdTls.InvalidTlsFileException e) {
            System.err.println("clustermd export-file: TLS: " + e.getMessage());
            return 1;
        }
        NbdTlsOptions.warnIfReachable(listeners, tls);
        NbdServer.Transport t;
        try {
            t = NbdServer.resolve(transport);
        } catch (Throwable e) {
            System.err.println("clustermd export-file: transport " + transport + " is not available here: " + e.getMessage()
                    + "; use --transport AUTO");
            return 1;
        }
        int loops = eventLoops != null ? eventLoops : Math.min(4, Runtime.getRuntime().availableProcessors());
        io.netty.channel.EventLoopGroup group = NbdServer.newEventLoopGroup(t, loops);
        FileBackend backend;
        try {
            backend = FileBackend.open(file, new FileBackend.Options(readOnly, !buffered, ioThreads),
                    t == NbdServer.Transport.IO_URING ? group : null);
        } catch (java.io.IOException e) {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
            System.err.println("clustermd export-file: " + e.getMessage());
            return 1;
        }
        NbdServer.Builder b = NbdServer.builder()
                .export(new NbdExport(name, description, backend))
                .config(config)
                .tls(tls)
                .transport(t)
                .eventLoopGroup(group);
        listeners.forEach(b::listen);
        NbdServer server;
        try {
            server = b.start();
        } catch (java.io.IOException e) {
            backend.close();
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
            System.err.println("clustermd export-file: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            log.info("stopping: finishing in-flight requests");
            server.close();
            try {
                backend.close();
            } catch (Exception e) {
                log.warn("closing {}: {}", file, e.toString());
            }
            group.shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
            stopped.countDown();
        }, "export-file-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        log.info("exporting {} as '{}' on {}", file, name, listeners);
        stopped.await();
        return 0;
    }
}
