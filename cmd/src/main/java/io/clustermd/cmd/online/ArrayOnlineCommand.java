package io.clustermd.cmd.online;

import picocli.CommandLine;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;

/**
 * An online command about the whole array, which also takes the array as its argument, as mdadm
 * takes {@code /dev/md0}: {@code clusterctl detail md0} or {@code clusterctl detail /dev/md0} is
 * {@code clusterctl detail --name md0}.
 */
abstract class ArrayOnlineCommand extends OnlineCommand {

    @Parameters(arity = "0..1", paramLabel = "ARRAY",
            description = "the array: its name (md0), or /dev/NAME as mdadm takes it; the same as --name NAME")
    String array;

    @Override
    Path socket() {
        if (array != null) {
            String name = array.startsWith("/dev/") ? array.substring("/dev/".length()) : array;
            if (name.isEmpty() || name.contains("/")) {
                throw new CommandLine.ParameterException(spec.commandLine(), "ARRAY is an array's name (md0) or"
                        + " /dev/NAME, got '" + array + "'");
            }
            if (daemon.name != null && !daemon.name.equals(name)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "the array is given twice, as '" + array
                        + "' and as --name " + daemon.name + "; give it once");
            }
            daemon.name = name;
        }
        return super.socket();
    }
}
