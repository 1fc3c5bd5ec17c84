package io.clustermd.cmd;

import io.clustermd.md.ArrayCreator;
import io.clustermd.md.BitmapKind;
import io.clustermd.md.CreateOptions;
import io.clustermd.md.CreatedArray;
import io.clustermd.md.Raid10Layout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.InstantSource;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code clusterctl create}: mdadm --create for clustermd arrays (metadata 1.2 only). */
@Command(name = "create", mixinStandardHelpOptions = true,
        description = {"Create a new array on member files or block devices (writes md v1.2 metadata).",
                "Refuses members that already carry md metadata, are too small or are given twice;",
                "nothing is written until every member has passed every check."})
final class CreateCommand implements Callable<Integer> {

    @Option(names = {"-l", "--level"}, required = true, description = "raid1 or raid10 (1, 10, mirror)")
    String level;

    @Option(names = {"-n", "--raid-devices"}, required = true, description = "number of active members")
    int raidDevices;

    @Option(names = {"-p", "--layout"}, description = "raid10 layout: n2 (default), n3, f2, o2, ... (near, far, offset copies; clustered: near only)")
    String layout;

    @Option(names = {"-c", "--chunk"}, description = "raid10 chunk size (default 512K)")
    String chunk;

    @Option(names = {"-b", "--bitmap"}, defaultValue = "clustered",
            description = "clustered (default), internal or none")
    String bitmap;

    @Option(names = "--nodes", description = "node slots of a clustered bitmap (default 4)")
    Integer nodes;

    @Option(names = "--home-cluster", description = "cluster name (default: corosync's cluster_name)")
    String homeCluster;

    @Option(names = {"-N", "--name"}, required = true, description = "array name")
    String name;

    @Option(names = "--homehost", description = "host part of the stored name (default: this host's name)")
    String homehost;

    @Option(names = "--bitmap-chunk", description = "bytes per bitmap bit, e.g. 64M (default: mdadm's rule)")
    String bitmapChunk;

    @Option(names = {"-z", "--size"}, description = "space used on each member, e.g. 1G (default: all)")
    String size;

    @Option(names = "--data-offset", description = "data offset on each member (default: mdadm's rule)")
    String dataOffset;

    @Option(names = "--assume-clean", description = "members are identical: skip the initial resync")
    boolean assumeClean;

    @Option(names = {"-f", "--force"}, description = "overwrite existing md metadata, accept one device or n1")
    boolean force;

    @Option(names = {"-e", "--metadata"}, defaultValue = "1.2", description = "only 1.2 is supported")
    String metadata;

    @Parameters(arity = "1..*", paramLabel = "MEMBER", description = "member files or block devices, in slot order")
    List<Path> members;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!metadata.equals("1.2") && !metadata.equals("default")) {
            throw new IllegalArgumentException("--metadata=" + metadata
                    + " is not supported: clustermd writes md metadata 1.2 (what md-cluster requires)");
        }
        int lvl = switch (level.toLowerCase(Locale.ROOT)) {
            case "1", "raid1", "mirror" -> 1;
            case "10", "raid10" -> 10;
            default -> throw new IllegalArgumentException("--level=" + level
                    + " is not supported: clustermd builds raid1 and raid10");
        };
        BitmapKind kind = BitmapKind.parse(bitmap);
        if (nodes != null && kind != BitmapKind.CLUSTERED) {
            throw new IllegalArgumentException("--nodes is only meaningful with --bitmap=clustered");
        }
        if (lvl == 1 && layout != null) {
            throw new IllegalArgumentException("--layout is only meaningful for raid10");
        }
        int layoutWord = lvl == 10 ? Raid10Layout.parse(layout == null ? "n2" : layout) : 0;
        int chunkKiB = 0;
        if (chunk != null) {
            long bytes = Sizes.parseBytes("--chunk", chunk);
            if (bytes % 1024 != 0) {
                throw new IllegalArgumentException("--chunk must be a whole number of KiB");
            }
            chunkKiB = (int) Math.min(Integer.MAX_VALUE, bytes / 1024);
        } else if (lvl == 10) {
            chunkKiB = 512;
        }
        String cluster = homeCluster;
        if (kind == BitmapKind.CLUSTERED && cluster == null) {
            cluster = Host.corosyncClusterName();
        }
        long sizeBytes = size == null || size.equalsIgnoreCase("max") ? 0 : Sizes.parseBytes("--size", size);
        if (sizeBytes % 1024 != 0) {
            throw new IllegalArgumentException("--size must be a whole number of KiB");
        }
        long offsetBytes = dataOffset == null ? 0 : Sizes.parseBytes("--data-offset", dataOffset);
        CreateOptions options = new CreateOptions(lvl, layoutWord, chunkKiB, raidDevices, kind,
                nodes == null ? 4 : nodes, cluster, name, homehost == null ? Host.hostname() : homehost,
                bitmapChunk == null ? 0 : Sizes.parseBytes("--bitmap-chunk", bitmapChunk), sizeBytes / 1024,
                offsetBytes / 512, 5, assumeClean, force, members);
        CreatedArray created = new ArrayCreator(InstantSource.system(), new SecureRandom()).create(options);
        for (String w : created.warnings()) {
            spec.commandLine().getErr().println("clusterctl: " + w);
        }
        spec.commandLine().getOut().printf(
                "clusterctl: array %s created: %s, %d member(s), %s, UUID %s%n", created.name(),
                lvl == 1 ? "raid1" : "raid10" + Raid10Layout.describe(layoutWord).replace(" ", " "),
                members.size(), kind == BitmapKind.CLUSTERED ? "clustered bitmap with " + options.nodes()
                        + " node slots" : kind == BitmapKind.INTERNAL ? "internal bitmap" : "no bitmap",
                created.uuid());
        spec.commandLine().getOut().printf("clusterctl: %d KiB per member, array size %d KiB, data offset %d sectors%s%n",
                created.componentSectors() / 2, created.arraySectors() / 2, created.dataOffsetSectors(),
                assumeClean ? ", marked clean (--assume-clean)" : ", the first node to start it resyncs");
        return 0;
    }
}
