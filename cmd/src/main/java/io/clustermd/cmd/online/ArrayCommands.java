package io.clustermd.cmd.online;

import io.clustermd.control.ArrayStatus;
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
        @picocli.CommandLine.Option(names = "--wait", description = "wait until the check is over, showing its"
                + " progress, then print mismatch_cnt")
        boolean waitForIt;

        @Override
        public Integer call() throws Exception {
            ControlResponse r = request(new ControlRequest.Check());
            return waitForIt ? follow(this, "check") : report(this, r, "check");
        }
    }

    @Command(name = "repair", mixinStandardHelpOptions = true,
            description = {"Start a repair: as check, and rewrite differing blocks from the first in-sync member.",
                    "Follow it with 'clusterctl status --watch'."})
    public static final class Repair extends ArrayOnlineCommand {
        @picocli.CommandLine.Option(names = "--wait", description = "wait until the repair is over, showing its"
                + " progress, then print mismatch_cnt")
        boolean waitForIt;

        @Override
        public Integer call() throws Exception {
            ControlResponse r = request(new ControlRequest.Repair());
            return waitForIt ? follow(this, "repair") : report(this, r, "repair");
        }
    }

    @Command(name = "wait", mixinStandardHelpOptions = true,
            description = {"Wait until no resync, recovery, check or repair runs (mdadm --wait), showing the progress:",
                    "one line redrawn on a terminal, a line per 10% (or 10 s) otherwise."})
    public static final class Wait extends ArrayOnlineCommand {
        @Override
        public Integer call() throws Exception {
            return follow(this, null);
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

    /** Follows the running action until idle; after a check or repair, prints its mismatch_cnt. */
    private static int follow(OnlineCommand c, String action) throws Exception {
        ArrayStatus idle;
        try (ControlClient client = c.connect()) {
            idle = new SyncProgress(c.out(), !c.json && Terminal.isInteractive()).untilIdle(client);
        }
        if (c.json) {
            c.printJson(idle);
        } else if (action != null) {
            c.out().println(action + " done on " + MdstatFormat.deviceName(idle) + ": mismatch_cnt "
                    + idle.mismatchCount());
            c.out().flush();
        }
        return 0;
    }

    private static int report(OnlineCommand c, ControlResponse r, String action) throws Exception {
        if (c.json) {
            c.printJson(r.status() != null ? r.status() : r);
        } else {
            String array = r.status() != null ? MdstatFormat.deviceName(r.status()) : "the array";
            c.err().println("clusterctl: " + action + " started on " + array
                    + "; follow it with 'clusterctl wait' or 'clusterctl status --watch'");
            c.err().flush();
        }
        return 0;
    }
}
