package io.clustermd.md.array;

import io.clustermd.md.io.MemberDevice;

import java.io.IOException;

/**
 * Finds and opens a member another node added: md-cluster leaves this to udev
 * ({@code blkid -t UUID_SUB=…} and {@code mdadm --cluster-confirm}); a daemon looks for it itself,
 * on its device search paths.
 */
@FunctionalInterface
public interface DeviceLocator {

    /** Finds nothing: a node without search paths refuses every new member. */
    DeviceLocator NONE = (setUuid, devNumber, deviceUuid) -> null;

    /**
     * The device whose md superblock belongs to the array {@code setUuid} with descriptor number
     * {@code devNumber} (and {@code device_uuid} {@code deviceUuid}, when not null), opened as
     * this node opens members; null when no such device is found.
     */
    MemberDevice locate(byte[] setUuid, int devNumber, byte[] deviceUuid) throws IOException;
}
