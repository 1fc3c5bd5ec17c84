package io.clustermd.control;

import java.util.List;
import java.util.Objects;

/**
 * A snapshot of one array: the facts {@code /proc/mdstat} ({@code md_seq_show}) and
 * {@code mdadm --detail} ({@code GET_ARRAY_INFO}, {@code GET_DISK_INFO}, sysfs) are printed from.
 * Serialised as the {@code status} object of the control protocol; absent optional parts are null
 * and left out of the JSON.
 *
 * @param name            the array's name as clustermd knows it (the {@code --name} of the daemon; md's
 *                        device name, {@code md0})
 * @param setName         the superblock's {@code set_name}, {@code homehost:name} ("Name :" of --detail)
 * @param uuid            the array UUID in mdadm's spelling, {@code 3e8d63ce:b86fbf25:30a03b41:2d523197}
 * @param level           {@code raid1} or {@code raid10} (md's personality name)
 * @param layout          raid10's layout word ({@code near | far << 8 | offset << 16}); null for raid1
 * @param chunkKib        raid10's chunk size in KiB; null for raid1
 * @param raidDisks       slots of the array ({@code raid_disks})
 * @param arraySizeKib    usable size in KiB (mdstat's "blocks", --detail's "Array Size")
 * @param componentSizeKib space each member contributes, in KiB (--detail's "Used Dev Size")
 * @param state           --detail's "State" words in mdadm's order, e.g. [clean, degraded, recovering];
 *                        {@link ArrayState#derive} computes them
 * @param readOnly        the array refuses writes (mdstat's "(read-only)")
 * @param events          the superblock event count
 * @param creationTime    superblock {@code ctime}, seconds since the epoch
 * @param updateTime      superblock {@code utime}, seconds since the epoch
 * @param bitmap          the write-intent bitmap; null for {@code --bitmap=none}
 * @param members         every device the array holds, in-sync, rebuilding, spare or faulty
 * @param sync            the running sync action, {@link SyncStatus#idle()} when none
 * @param mismatchCount   md's {@code mismatch_cnt}: sectors found different by the last check or repair
 * @param cluster         md-cluster facts; null for an array served by one node
 */
public record ArrayStatus(
        String name,
        String setName,
        String uuid,
        String level,
        Integer layout,
        Integer chunkKib,
        int raidDisks,
        long arraySizeKib,
        long componentSizeKib,
        List<ArrayState> state,
        boolean readOnly,
        long events,
        long creationTime,
        long updateTime,
        BitmapStatus bitmap,
        List<MemberStatus> members,
        SyncStatus sync,
        long mismatchCount,
        ClusterStatus cluster) {

    public ArrayStatus {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(level, "level");
        state = state == null ? List.of() : List.copyOf(state);
        members = members == null ? List.of() : List.copyOf(members);
        sync = sync == null ? SyncStatus.idle() : sync;
    }

    /** Members that hold a slot and are in sync (md's {@code active_disks}). */
    public int activeDevices() {
        return (int) members.stream().filter(m -> m.state() == MemberState.IN_SYNC).count();
    }

    /** Members that are not faulty (md's {@code working_disks}: active + spares). */
    public int workingDevices() {
        return (int) members.stream().filter(m -> m.state() != MemberState.FAULTY).count();
    }

    /** Faulty members still held by the array (md's {@code failed_disks}). */
    public int failedDevices() {
        return (int) members.stream().filter(m -> m.state() == MemberState.FAULTY).count();
    }

    /** Spares, including the one being rebuilt (md's {@code spare_disks}). */
    public int spareDevices() {
        return (int) members.stream()
                .filter(m -> m.state() == MemberState.SPARE || m.state() == MemberState.REBUILDING).count();
    }

    /** The member that is in sync in {@code slot}, or null (an empty slot or one being rebuilt). */
    public MemberStatus inSyncMemberOfSlot(int slot) {
        for (MemberStatus m : members) {
            if (m.state() == MemberState.IN_SYNC && m.slot() != null && m.slot() == slot) {
                return m;
            }
        }
        return null;
    }
}
