package io.clustermd.bitmap;

import java.util.Arrays;
import java.util.Objects;

/**
 * One write-intent bitmap superblock: Linux md's {@code bitmap_super_t} (md-bitmap.h), 256 bytes at the
 * start of every node slot. Version 4 is md's plain internal bitmap, version 5
 * ({@code BITMAP_MAJOR_CLUSTERED}) the clustered one with {@code nodes} slots.
 *
 * @param magic           {@code magic}, {@link BitmapSuperblockCodec#BITMAP_MAGIC} when valid
 * @param version         {@code version}: 3, 4, or 5 (clustered)
 * @param uuid            {@code uuid}: the array's set_uuid, 16 raw bytes
 * @param events          {@code events}: md events at the slot owner's last bitmap superblock write
 * @param eventsCleared   {@code events_cleared}: events value at which bits were last allowed to clear
 * @param syncSize        {@code sync_size}: sectors covered (raid1 component size, raid10 array size)
 * @param state           {@code state}: bit 1 STALE, bit 2 WRITE_ERROR
 * @param chunkSize       {@code chunksize}: bytes per bit, a power of two of at least 512
 * @param daemonSleep     {@code daemon_sleep}: seconds between lazy-clear passes
 * @param writeBehind     {@code write_behind}: maximum outstanding write-behind requests
 * @param sectorsReserved {@code sectors_reserved}: space reserved for the bitmap (0 = unknown)
 * @param nodes           {@code nodes}: number of node slots (0 for a plain bitmap)
 * @param clusterName     {@code cluster_name}: the DLM cluster name, at most 63 bytes
 */
public record BitmapSuperblock(
        int magic,
        int version,
        byte[] uuid,
        long events,
        long eventsCleared,
        long syncSize,
        int state,
        int chunkSize,
        int daemonSleep,
        int writeBehind,
        int sectorsReserved,
        int nodes,
        String clusterName) {

    /** {@code BITMAP_MAJOR_HI}: md's normal internal bitmap. */
    public static final int VERSION_PLAIN = 4;
    /** {@code BITMAP_MAJOR_CLUSTERED}: one slot per cluster node. */
    public static final int VERSION_CLUSTERED = 5;
    /** {@code BITMAP_STALE} as a mask: the bitmap is out of date, a full resync is needed. */
    public static final int STATE_STALE = 1 << 1;
    /** {@code BITMAP_WRITE_ERROR} as a mask. */
    public static final int STATE_WRITE_ERROR = 1 << 2;
    /** md's {@code COUNTER_MAX}: the largest accepted write_behind. */
    public static final int MAX_WRITE_BEHIND = 16383;
    /** Longest cluster name that fits {@code cluster_name[64]} with its terminating NUL. */
    public static final int MAX_CLUSTER_NAME = 63;

    public BitmapSuperblock {
        Objects.requireNonNull(uuid, "uuid");
        Objects.requireNonNull(clusterName, "clusterName");
        if (uuid.length != 16) {
            throw new IllegalArgumentException("uuid must be 16 bytes (was " + uuid.length + ")");
        }
        uuid = uuid.clone();
    }

    @Override
    public byte[] uuid() {
        return uuid.clone();
    }

    /** True for a version-5 bitmap with node slots. */
    public boolean clustered() {
        return version == VERSION_CLUSTERED && nodes > 0;
    }

    /** Number of chunks (bits) this bitmap tracks: mdadm's {@code bitmap_bits()}. */
    public long chunks() {
        return BitmapGeometry.chunks(syncSize, chunkSize);
    }

    public BitmapSuperblock withEvents(long newEvents, long newEventsCleared) {
        return new BitmapSuperblock(magic, version, uuid, newEvents, newEventsCleared, syncSize, state, chunkSize,
                daemonSleep, writeBehind, sectorsReserved, nodes, clusterName);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BitmapSuperblock b && magic == b.magic && version == b.version
                && Arrays.equals(uuid, b.uuid) && events == b.events && eventsCleared == b.eventsCleared
                && syncSize == b.syncSize && state == b.state && chunkSize == b.chunkSize
                && daemonSleep == b.daemonSleep && writeBehind == b.writeBehind
                && sectorsReserved == b.sectorsReserved && nodes == b.nodes && clusterName.equals(b.clusterName);
    }

    @Override
    public int hashCode() {
        return Objects.hash(magic, version, Arrays.hashCode(uuid), events, syncSize, chunkSize, nodes, clusterName);
    }

    @Override
    public String toString() {
        return "BitmapSuperblock[version=" + version + ", events=" + events + ", eventsCleared=" + eventsCleared
                + ", syncSize=" + syncSize + ", state=" + state + ", chunkSize=" + chunkSize + ", nodes=" + nodes
                + ", clusterName=" + clusterName + "]";
    }
}
