package io.clustermd.md.cluster;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * One message between the nodes of a clustered array; md-cluster.c's {@code struct cluster_msg},
 * cut to what fits the 32-byte LVB of a userspace lockspace (see {@link ClusterMessageCodec}).
 *
 * @param type what happened
 * @param senderSlot the sender's bitmap slot (md's {@code slot}, 0-based)
 * @param raidSlot the member's descriptor number ({@code dev_number}) for NEWDISK, REMOVE, RE_ADD,
 *     METADATA_UPDATED; 0 otherwise
 * @param low first sector of a RESYNCING window; 0 otherwise
 * @param high end sector of a RESYNCING window, the new size for BITMAP_RESIZE; 0 otherwise
 * @param deviceUuid the new member's {@code device_uuid} (16 bytes) for NEWDISK; {@code null} otherwise
 * @param sequence the sender's message counter: lets a receiver recognise a message it already
 *     processed, and names the message in logs
 */
public record ClusterMessage(MessageType type, int senderSlot, int raidSlot, long low, long high, byte[] deviceUuid,
                             long sequence) {

    public ClusterMessage {
        Objects.requireNonNull(type, "type");
        if (senderSlot < 0 || senderSlot > 0xff) {
            throw new IllegalArgumentException("sender slot must be 0..255, got " + senderSlot);
        }
        if (raidSlot < 0 || raidSlot > 0xffff) {
            throw new IllegalArgumentException("raid slot must be 0..65535, got " + raidSlot);
        }
        if (type.carriesDeviceUuid()) {
            if (deviceUuid == null || deviceUuid.length != 16) {
                throw new IllegalArgumentException(type + " carries a 16-byte device UUID");
            }
            if (low != 0 || high != 0) {
                throw new IllegalArgumentException(type + " carries a device UUID, not a range");
            }
            deviceUuid = deviceUuid.clone();
        } else if (deviceUuid != null) {
            throw new IllegalArgumentException(type + " carries no device UUID");
        }
    }

    /** A RESYNCING message announcing the window {@code [low, high)} in sectors ({@code 0,0}: done). */
    public static ClusterMessage resyncing(int senderSlot, long low, long high, long sequence) {
        return new ClusterMessage(MessageType.RESYNCING, senderSlot, 0, low, high, null, sequence);
    }

    /** A message that carries only a type and possibly a member's descriptor number. */
    public static ClusterMessage of(MessageType type, int senderSlot, int raidSlot, long sequence) {
        return new ClusterMessage(type, senderSlot, raidSlot, 0, 0, null, sequence);
    }

    /** The same message with another sender slot and sequence number (as the channel stamps it). */
    public ClusterMessage stamped(int slot, long seq) {
        return new ClusterMessage(type, slot, raidSlot, low, high, deviceUuid, seq);
    }

    @Override
    public byte[] deviceUuid() {
        return deviceUuid == null ? null : deviceUuid.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ClusterMessage m && type == m.type && senderSlot == m.senderSlot && raidSlot == m.raidSlot
                && low == m.low && high == m.high && Arrays.equals(deviceUuid, m.deviceUuid) && sequence == m.sequence;
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, senderSlot, raidSlot, low, high, Arrays.hashCode(deviceUuid), sequence);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(type.name()).append(" #").append(sequence).append(" from slot ")
                .append(senderSlot);
        if (type.carriesDeviceUuid()) {
            s.append(" device ").append(HexFormat.of().formatHex(deviceUuid));
        } else if (low != 0 || high != 0) {
            s.append(" [").append(low).append(", ").append(high).append(')');
        }
        if (raidSlot != 0) {
            s.append(" member ").append(raidSlot);
        }
        return s.toString();
    }
}
