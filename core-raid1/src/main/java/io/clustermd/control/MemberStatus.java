package io.clustermd.control;

import java.util.Objects;

/**
 * One member device (md's {@code md_rdev}, mdadm's {@code GET_DISK_INFO} row).
 *
 * @param path                 the device or file path the daemon opened
 * @param devNumber            the superblock's {@code dev_number} (md's {@code desc_nr}; mdstat's
 *                             {@code name[N]}, --detail's "Number")
 * @param slot                 the raid slot it serves or is rebuilt into ("RaidDevice"); null for spare
 *                             and faulty members
 * @param state                in_sync, faulty, spare or rebuilding
 * @param recoveryOffsetSectors for a rebuilding member, sectors already recovered (md's
 *                             {@code recovery_offset}); null otherwise
 * @param deviceUuid           the superblock's {@code device_uuid}, mdadm's spelling; null if unknown
 * @param major                block device major number; null for a regular file
 * @param minor                block device minor number; null for a regular file
 */
public record MemberStatus(
        String path,
        int devNumber,
        Integer slot,
        MemberState state,
        Long recoveryOffsetSectors,
        String deviceUuid,
        Integer major,
        Integer minor) {

    public MemberStatus {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(state, "state");
    }

    /** An in-sync member of a regular file. */
    public static MemberStatus inSync(String path, int devNumber, int slot, String deviceUuid) {
        return new MemberStatus(path, devNumber, slot, MemberState.IN_SYNC, null, deviceUuid, null, null);
    }

    public MemberStatus withState(MemberState newState, Integer newSlot, Long recoveryOffset) {
        return new MemberStatus(path, devNumber, newSlot, newState, recoveryOffset, deviceUuid, major, minor);
    }
}
