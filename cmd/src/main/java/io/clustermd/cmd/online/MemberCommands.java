package io.clustermd.cmd.online;

import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;

/**
 * {@code clusterctl fail|remove|add|re-add MEMBER}: mdadm's manage mode ({@code mdadm /dev/mdX --fail
 * MEMBER} ...). The member's path is made absolute here, because the daemon runs in another directory.
 * On success mdadm's sentence goes to stderr, as mdadm prints it; {@code --json} prints the array's
 * status after the change on stdout.
 */
public final class MemberCommands {

    private MemberCommands() {
    }

    abstract static class MemberCommand extends OnlineCommand {

        @Parameters(index = "0", paramLabel = "MEMBER", description = "the member's path (file or block device)")
        String member;

        abstract ControlRequest request(String absoluteMember);

        /** mdadm's sentence for the done action. */
        abstract String done(String member, String array);

        @Override
        public Integer call() throws Exception {
            String abs = Path.of(member).toAbsolutePath().normalize().toString();
            ControlResponse r = request(request(abs));
            if (json) {
                printJson(r.status() != null ? r.status() : r);
            } else {
                String array = r.status() != null ? MdstatFormat.deviceName(r.status()) : "the array";
                err().println("clusterctl: " + done(abs, array));
                err().flush();
            }
            return 0;
        }
    }

    @Command(name = "fail", mixinStandardHelpOptions = true,
            description = "Mark MEMBER faulty (mdadm --fail): no more I/O goes to it; the array runs degraded.")
    public static final class Fail extends MemberCommand {
        @Override
        ControlRequest request(String m) {
            return new ControlRequest.Fail(m);
        }

        @Override
        String done(String m, String array) {
            return "set " + m + " faulty in " + array;
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Take a faulty or spare MEMBER out of the array (mdadm --remove).")
    public static final class Remove extends MemberCommand {
        @Override
        ControlRequest request(String m) {
            return new ControlRequest.Remove(m);
        }

        @Override
        String done(String m, String array) {
            return "hot removed " + m + " from " + array;
        }
    }

    @Command(name = "add", aliases = "add-spare", mixinStandardHelpOptions = true,
            description = {"Add MEMBER as a spare (mdadm --add); recovery onto it starts if a slot is missing.",
                    "Never a re-add (that is 're-add'), so it is also mdadm's --add-spare: a former member comes"
                            + " back as a new one, fully rebuilt."})
    public static final class Add extends MemberCommand {
        @Override
        ControlRequest request(String m) {
            return new ControlRequest.Add(m);
        }

        @Override
        String done(String m, String array) {
            return "added " + m;
        }
    }

    @Command(name = "re-add", mixinStandardHelpOptions = true,
            description = "Bring a former MEMBER back into its slot (mdadm --re-add); the bitmap limits recovery"
                    + " to what changed while it was away.")
    public static final class ReAdd extends MemberCommand {
        @Override
        ControlRequest request(String m) {
            return new ControlRequest.ReAdd(m);
        }

        @Override
        String done(String m, String array) {
            return "re-added " + m;
        }
    }
}
