package io.clustermd.cmd.online;

import io.clustermd.control.ArrayStatus;
import io.clustermd.control.ControlRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.ZoneId;

/** {@code clusterctl detail}: what {@code mdadm --detail /dev/mdX} prints, for the daemon's array. */
@Command(name = "detail", aliases = "-D", mixinStandardHelpOptions = true,
        description = "Print the array as 'mdadm --detail' does: geometry, state, counts, members.")
public final class DetailCommand extends ArrayOnlineCommand {

    @Option(names = "--homehost", description = "host name for the '(local to host ...)' note (default: this host)")
    String homehost;

    @Override
    public Integer call() throws Exception {
        ArrayStatus s = request(new ControlRequest.Status()).status();
        if (json) {
            printJson(s);
            return 0;
        }
        String host = homehost == null ? io.clustermd.cmd.Host.hostname() : homehost;
        DetailFormat.detail(s, host, ZoneId.systemDefault()).forEach(out()::println);
        out().flush();
        return 0;
    }
}
