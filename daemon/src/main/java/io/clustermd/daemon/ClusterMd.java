package io.clustermd.daemon;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code clustermd}: the daemon's command line. One array per process; subcommands start the
 * array service and its helper services.
 */
@Command(name = "clustermd", mixinStandardHelpOptions = true, versionProvider = ClusterMd.Version.class,
        description = "Userspace Cluster MD daemon: serves a clustered RAID1/RAID10 array over NBD.",
        subcommands = {CommandLine.HelpCommand.class, RunCommand.class, ExportFileCommand.class, CoordinatorCommand.class})
public final class ClusterMd implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
    }

    public static void main(String[] args) {
        // Netty's leak detector samples stack traces on the data path; the tests run it at paranoid,
        // the daemon runs without it unless asked (-Dio.netty.leakDetection.level=...).
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            System.setProperty("io.netty.leakDetection.level", "disabled");
        }
        System.exit(new CommandLine(new ClusterMd()).execute(args));
    }

    /** Reports the version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = ClusterMd.class.getPackage().getImplementationVersion();
            return new String[] {"clustermd " + (v == null ? "(development build)" : v)};
        }
    }
}
