package io.clustermd.cmd.online;

import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code clusterctl grow --raid-devices=N [--add MEMBER]…}: mdadm's grow mode for the number of
 * mirrors of a raid1 ({@code mdadm --grow /dev/mdX --raid-devices=3 --add /dev/sdc}). The members
 * given with {@code --add} are added first (as spares on a healthy array), then the new roles take
 * them and they are rebuilt. On a cluster every node follows.
 */
@Command(name = "grow", mixinStandardHelpOptions = true,
        description = {"Change the number of mirrors of a raid1 (mdadm --grow --raid-devices): new roles are filled"
                + " by spares (--add gives them), which are rebuilt; roles can be given up only when empty.",
                "Follow the rebuild with 'clusterctl status --watch'."})
public final class GrowCommand extends OnlineCommand {

    @Option(names = {"-n", "--raid-devices"}, paramLabel = "N", required = true,
            description = "the number of mirrors (roles) the array has from now on")
    int raidDevices;

    @Option(names = {"-a", "--add"}, paramLabel = "MEMBER",
            description = "a device to add first (repeatable), as 'clusterctl add' does")
    List<String> add = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (raidDevices < 1) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--raid-devices must be at least 1, got " + raidDevices);
        }
        for (String m : add) {
            String abs = Path.of(m).toAbsolutePath().normalize().toString();
            request(new ControlRequest.Add(abs));
            if (!json) {
                err().println("clusterctl: added " + abs);
            }
        }
        ControlResponse r = request(new ControlRequest.Grow(raidDevices));
        if (json) {
            printJson(r.status() != null ? r.status() : r);
        } else {
            String array = r.status() != null ? MdstatFormat.deviceName(r.status()) : "the array";
            err().println("clusterctl: raid_disks for " + array + " set to " + raidDevices);
            err().flush();
        }
        return 0;
    }
}
