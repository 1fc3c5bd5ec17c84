package io.clustermd.cmd.online;

import io.clustermd.control.ArrayStatus;
import io.clustermd.control.ControlCodec;
import io.clustermd.control.ControlRequest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/**
 * {@code clusterctl status}: the array as {@code cat /proc/mdstat} shows it; with {@code --watch}, as
 * {@code watch cat /proc/mdstat} does, until the running resync, recovery, check or repair ends.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = {"Print the array as /proc/mdstat does: members, [n/m] [UU], sync progress, bitmap.",
                "With --watch, redraw every SECONDS (default 1) until no resync, recovery, check or repair runs;"
                        + " exits 0 when it has finished."})
public final class StatusCommand extends ArrayOnlineCommand {

    @Option(names = "--watch", arity = "0..1", fallbackValue = "1", paramLabel = "SECONDS",
            description = "redraw every SECONDS until the array is idle")
    Double watch;

    /** Redraws when stdout is a terminal; a test or a pipe gets the frames one after another. */
    boolean clearScreen = Terminal.isInteractive();

    @Override
    public Integer call() throws Exception {
        if (watch == null) {
            ArrayStatus s = requireOk(requestStatus()).status();
            print(s);
            return 0;
        }
        if (!(watch > 0) || watch > 86_400) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--watch SECONDS must be more than 0 and at most 86400, not " + watch);
        }
        long periodMillis = Math.max(1, Math.round(watch * 1000));
        try (ControlClient c = connect()) {
            boolean first = true;
            while (true) {
                ArrayStatus s = requireOk(c.call(new ControlRequest.Status())).status();
                frame(s, first);
                first = false;
                if (s.sync().isIdle()) {
                    return 0;
                }
                Thread.sleep(periodMillis);
            }
        }
    }

    private io.clustermd.control.ControlResponse requestStatus() {
        try (ControlClient c = connect()) {
            return c.call(new ControlRequest.Status());
        }
    }

    private void frame(ArrayStatus s, boolean first) throws Exception {
        PrintWriter out = out();
        if (json) {
            // one JSON document per line, so a consumer can read the frames as a stream
            out.println(ControlCodec.encode(s));
        } else if (clearScreen) {
            out.print("\033[H\033[2J");
            out.println("Every " + watch + "s: clusterctl status" + "    " + LocalTime.now().format(DateTimeFormatter.ofPattern("HH:mm:ss")));
            out.println();
            MdstatFormat.mdstat(s).forEach(out::println);
        } else {
            if (!first) {
                out.println();
            }
            MdstatFormat.mdstat(s).forEach(out::println);
        }
        out.flush();
    }

    private void print(ArrayStatus s) throws Exception {
        if (json) {
            printJson(s);
        } else {
            MdstatFormat.mdstat(s).forEach(out()::println);
            out().flush();
        }
    }
}
