package io.clustermd.cmd.online;

import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import io.clustermd.md.BitmapKind;
import io.clustermd.md.BitmapSwitch;
import io.clustermd.md.MdFormatException;

import java.nio.file.Path;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code clusterctl grow}: mdadm's grow mode.
 * <ul>
 *   <li>{@code --raid-devices=N [--add MEMBER]…} on a running array: the number of mirrors of a raid1
 *       ({@code mdadm --grow /dev/mdX --raid-devices=3 --add /dev/sdc}). The members given with
 *       {@code --add} are added first (as spares on a healthy array), then the new roles take them
 *       and they are rebuilt. On a cluster every node follows.</li>
 *   <li>{@code --bitmap=none|internal|clustered MEMBER…} on an array that no node runs: the bitmap
 *       changes kind ({@link BitmapSwitch}).</li>
 * </ul>
 */
@Command(name = "grow", mixinStandardHelpOptions = true,
        description = {"Change the number of mirrors of a running raid1 (--raid-devices: new roles are filled by"
                + " spares, --add gives them, and they are rebuilt; roles can be given up only when empty), or the"
                + " bitmap of a stopped array (--bitmap, with every member given; stop the array on every node"
                + " first).", "Follow a rebuild with 'clusterctl status --watch'."})
public final class GrowCommand extends OnlineCommand {

    @Option(names = {"-n", "--raid-devices"}, paramLabel = "N",
            description = "the number of mirrors (roles) the running array has from now on")
    Integer raidDevices;

    @Option(names = {"-z", "--size"}, paramLabel = "SIZE",
            description = "the space used on each member of the running array (raid1), or max: all they offer;"
                    + " a larger size is resynced, a smaller one is refused while the part cut off holds data")
    String size;

    @Option(names = "--force", description = "with --size: cut off the part past a smaller size even if it holds data")
    boolean force;

    @Option(names = {"-b", "--bitmap"}, paramLabel = "KIND",
            description = "none, internal or clustered: the new bitmap of the stopped array whose MEMBERs are given")
    String bitmap;

    @Option(names = "--nodes", paramLabel = "N", description = "node slots of a new clustered bitmap (default 4)")
    Integer nodes;

    @Option(names = "--home-cluster", paramLabel = "NAME",
            description = "cluster name of a new clustered bitmap (default: corosync's cluster_name)")
    String homeCluster;

    @Option(names = "--bitmap-chunk", paramLabel = "SIZE", description = "bytes per bit of a new bitmap (default:"
            + " mdadm's rule)")
    String bitmapChunk;

    @picocli.CommandLine.Parameters(arity = "0..*", paramLabel = "MEMBER",
            description = "with --bitmap: every member of the stopped array")
    List<Path> members = new ArrayList<>();

    @Option(names = {"-a", "--add"}, paramLabel = "MEMBER",
            description = "a device to add first (repeatable), as 'clusterctl add' does")
    List<String> add = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        int given = (raidDevices != null ? 1 : 0) + (size != null ? 1 : 0) + (bitmap != null ? 1 : 0);
        if (given != 1) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give one of --raid-devices or"
                    + " --size (a running array) or --bitmap (a stopped array's members)");
        }
        if (force && size == null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--force goes with --size");
        }
        if (bitmap != null) {
            return switchBitmap();
        }
        if (size != null) {
            return resize();
        }
        if (!members.isEmpty() || nodes != null || homeCluster != null || bitmapChunk != null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--raid-devices works on the running array: members are given with --add, and --nodes,"
                            + " --home-cluster and --bitmap-chunk go with --bitmap");
        }
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

    private int resize() throws Exception {
        if (!members.isEmpty() || !add.isEmpty() || nodes != null || homeCluster != null || bitmapChunk != null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--size works on the running array alone (no members, --add or bitmap options)");
        }
        long bytes;
        if (size.equalsIgnoreCase("max")) {
            bytes = 0;
        } else {
            try {
                bytes = io.clustermd.cmd.Sizes.parseBytes("--size", size);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            if (bytes <= 0 || bytes % 1024 != 0) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "--size must be a positive whole number of KiB, or max");
            }
        }
        ControlResponse r = request(new ControlRequest.Resize(bytes, force));
        if (json) {
            printJson(r.status() != null ? r.status() : r);
        } else {
            String array = r.status() != null ? MdstatFormat.deviceName(r.status()) : "the array";
            long kib = r.status() != null ? r.status().componentSizeKib() : bytes / 1024;
            err().println("clusterctl: component size of " + array + " has been set to " + kib + "K");
            err().flush();
        }
        return 0;
    }

    private int switchBitmap() throws Exception {
        BitmapKind kind;
        try {
            kind = BitmapKind.parse(bitmap);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (members.isEmpty() || !add.isEmpty()) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--bitmap needs every member of the stopped array (and no --add)");
        }
        if (nodes != null && kind != BitmapKind.CLUSTERED) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--nodes is only meaningful with --bitmap=clustered");
        }
        String cluster = homeCluster;
        if (kind == BitmapKind.CLUSTERED && cluster == null) {
            cluster = io.clustermd.cmd.Host.corosyncClusterName();
        }
        long chunk = bitmapChunk == null ? 0 : io.clustermd.cmd.Sizes.parseBytes("--bitmap-chunk", bitmapChunk);
        BitmapSwitch.Result r;
        try {
            r = BitmapSwitch.apply(new BitmapSwitch.Options(kind, nodes == null ? 4 : nodes, cluster, chunk,
                    members.stream().map(p -> p.toAbsolutePath().normalize()).toList()), InstantSource.system());
        } catch (MdFormatException e) {
            throw new OnlineFailure(e.getMessage());
        }
        err().println("clusterctl: bitmap changed from " + r.from().name().toLowerCase() + " to "
                + r.to().name().toLowerCase() + " on " + members.size() + " member(s)"
                + (r.slots() > 1 ? " (" + r.slots() + " node slots)" : "")
                + (r.resyncNeeded() ? "; the array was not clean: the first node to start it resyncs everything" : ""));
        err().flush();
        return 0;
    }
}
