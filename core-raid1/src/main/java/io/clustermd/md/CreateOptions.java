package io.clustermd.md;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What {@code clusterctl create} asks for, in mdadm's terms and units.
 *
 * @param level            1 or 10
 * @param layout           raid10 layout word ({@link Raid10Layout}); 0 for raid1
 * @param chunkKiB         raid10 chunk in KiB (0 for raid1)
 * @param raidDevices      number of active slots
 * @param bitmap           clustered, internal or none
 * @param nodes            node slots of a clustered bitmap
 * @param homeCluster      cluster name written into a clustered bitmap
 * @param name             array name (becomes "homehost:name" unless it holds a ':')
 * @param homehost         host part of set_name (mdadm's homehost)
 * @param bitmapChunkBytes bitmap chunk in bytes, 0 for mdadm's default
 * @param sizeKiB          used size per member in KiB, 0 for as large as the smallest member allows
 * @param dataOffsetSectors data offset in sectors, 0 for mdadm's default rule
 * @param daemonSleepSeconds bitmap daemon period
 * @param assumeClean      members are known identical: no initial resync
 * @param force            override the checks that only protect against a likely mistake
 * @param members          member paths in slot order
 */
public record CreateOptions(int level, int layout, int chunkKiB, int raidDevices, BitmapKind bitmap, int nodes,
                            String homeCluster, String name, String homehost, long bitmapChunkBytes, long sizeKiB,
                            long dataOffsetSectors, int daemonSleepSeconds, boolean assumeClean, boolean force,
                            List<Path> members) {

    public CreateOptions {
        Objects.requireNonNull(bitmap, "bitmap");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(homehost, "homehost");
        members = List.copyOf(members);
    }
}
