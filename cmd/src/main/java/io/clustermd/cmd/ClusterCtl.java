package io.clustermd.cmd;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/**
 * {@code clusterctl}: administer clustermd arrays, with mdadm's option names and output. Offline
 * commands read and write members directly; online ones talk to the local daemon.
 */
@Command(name = "clusterctl", mixinStandardHelpOptions = true, versionProvider = ClusterCtl.Version.class,
        description = "Administer clustermd arrays (md-compatible RAID1/RAID10 on shared disks).",
        subcommands = {CreateCommand.class, ExamineCommand.class, ExamineBitmapCommand.class,
                io.clustermd.cmd.online.StatusCommand.class, io.clustermd.cmd.online.DetailCommand.class,
                io.clustermd.cmd.online.MemberCommands.Fail.class, io.clustermd.cmd.online.MemberCommands.Remove.class,
                io.clustermd.cmd.online.MemberCommands.Add.class, io.clustermd.cmd.online.MemberCommands.ReAdd.class,
                io.clustermd.cmd.online.GrowCommand.class,
                io.clustermd.cmd.online.ArrayCommands.Check.class, io.clustermd.cmd.online.ArrayCommands.Repair.class,
                io.clustermd.cmd.online.ArrayCommands.Stop.class, io.clustermd.cmd.online.ArrayCommands.Wait.class,
                CommandLine.HelpCommand.class})
public final class ClusterCtl implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs one command line; returns the exit code (0 success, 1 failure, 2 usage error). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new ClusterCtl());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            line.getErr().println("clusterctl: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return 1;
        });
        cl.setParameterExceptionHandler((ex, argv) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("clusterctl: " + ex.getMessage());
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            return 2;
        });
        int rc = cl.execute(args);
        out.flush();
        err.flush();
        return rc;
    }

    /** Reports the version from the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = ClusterCtl.class.getPackage().getImplementationVersion();
            return new String[] {"clusterctl " + (v == null ? "(development build)" : v)};
        }
    }
}
