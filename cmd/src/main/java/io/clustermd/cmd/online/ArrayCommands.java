package io.clustermd.cmd.online;

import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import picocli.CommandLine.Command;

/**
 * {@code clusterctl check|repair|stop}: {@code mdadm --action=check|repair} ({@code echo check >
 * sync_action}) and {@code mdadm --stop}. check and repair return as soon as the action has started;
 * follow it with {@code clusterctl status --watch}.
 */
public final class ArrayCommands {

    private ArrayCommands() {
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Start a check: read every member and count differing sectors (mismatch_cnt).",
                    "Follow it with 'clusterctl status --watch'."})
    public static final class Check extends ArrayOnlineCommand {
        @Override
        public Integer call() throws Exception {
            ControlResponse r = request(new ControlRequest.Check());
            report(this, r, "check");
            return 0;
        }
    }

    @Command(name = "repair", mixinStandardHelpOptions = true,
            description = {"Start a repair: as check, and rewrite differing blocks from the first in-sync member.",
                    "Follow it with 'clusterctl status --watch'."})
    public static final class Repair extends ArrayOnlineCommand {
        @Override
        public Integer call() throws Exception {
            ControlResponse r = request(new ControlRequest.Repair());
            report(this, r, "repair");
            return 0;
        }
    }

    @Command(name = "stop", aliases = "-S", mixinStandardHelpOptions = true,
            description = "Stop the array (mdadm --stop): finish in-flight I/O, flush bitmaps, update superblocks;"
                    + " the daemon exits.")
    public static final class Stop extends ArrayOnlineCommand {
        @Override
        public Integer call() throws Exception {
            String name = io.clustermd.control.ControlSockets.nameOf(socket());
            ControlResponse r = request(new ControlRequest.Stop());
            if (json) {
                printJson(r);
            } else {
                err().println("clusterctl: stopped md-" + name);
                err().flush();
            }
            return 0;
        }
    }

    private static void report(OnlineCommand c, ControlResponse r, String action) throws Exception {
        if (c.json) {
            c.printJson(r.status() != null ? r.status() : r);
        } else {
            String array = r.status() != null ? MdstatFormat.deviceName(r.status()) : "the array";
            c.err().println("clusterctl: " + action + " started on " + array
                    + "; follow it with 'clusterctl status --watch'");
            c.err().flush();
        }
    }
}
