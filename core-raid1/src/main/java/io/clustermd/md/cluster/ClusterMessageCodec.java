package io.clustermd.md.cluster;

import io.clustermd.dlm.Lvb;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Encodes a {@link ClusterMessage} into the 32-byte LVB of the {@code message} lock and back.
 *
 * <p>md-cluster's {@code struct cluster_msg} is 44 bytes in a 64-byte kernel LVB; a userspace
 * lockspace has 32 ({@code DLM_USER_LVB_LEN}), so the fields are narrowed (a slot fits a byte, a
 * descriptor number 16 bits) and the range and the device UUID share bytes 4..19, which no message
 * type uses both of. Little-endian, as md. Pure functions.
 */
public final class ClusterMessageCodec {

    /** {@code type}: md's {@code enum msg_type} value (u8). */
    static final int TYPE = 0;
    /** {@code slot}: the sender's 0-based bitmap slot (u8). */
    static final int SLOT = 1;
    /** {@code raid_slot}: a member's descriptor number (le16). */
    static final int RAID_SLOT = 2;
    /** {@code low}: first sector of a RESYNCING window (le64). */
    static final int LOW = 4;
    /** {@code high}: end sector of a RESYNCING window, BITMAP_RESIZE's new size (le64). */
    static final int HIGH = 12;
    /** {@code uuid}: NEWDISK's 16-byte {@code device_uuid}, in place of low and high. */
    static final int UUID = 4;
    /** Not in md: the sender's message counter (le64), for duplicate detection and logs. */
    static final int SEQUENCE = 20;
    /** Bytes 28..31 are reserved and written as zero. */
    static final int RESERVED = 28;

    private ClusterMessageCodec() {
    }

    /** The LVB that carries {@code message}. */
    public static byte[] encode(ClusterMessage message) {
        ByteBuffer b = ByteBuffer.allocate(Lvb.LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        b.put(TYPE, (byte) message.type().code());
        b.put(SLOT, (byte) message.senderSlot());
        b.putShort(RAID_SLOT, (short) message.raidSlot());
        if (message.type().carriesDeviceUuid()) {
            b.put(UUID, message.deviceUuid());
        } else {
            b.putLong(LOW, message.low());
            b.putLong(HIGH, message.high());
        }
        b.putLong(SEQUENCE, message.sequence());
        return b.array();
    }

    /**
     * The message in an LVB.
     *
     * @throws IllegalArgumentException if the LVB is not 32 bytes, its type is unknown, or its
     *     reserved bytes are not zero (written by something that is not a clustermd node)
     */
    public static ClusterMessage decode(byte[] lvb) {
        if (lvb == null || lvb.length != Lvb.LENGTH) {
            throw new IllegalArgumentException("a cluster message LVB is " + Lvb.LENGTH + " bytes, got "
                    + (lvb == null ? "none" : lvb.length));
        }
        ByteBuffer b = ByteBuffer.wrap(lvb).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(RESERVED) != 0) {
            throw new IllegalArgumentException("cluster message LVB has non-zero reserved bytes 28..31; "
                    + "it was not written by a clustermd node");
        }
        MessageType type = MessageType.ofCode(b.get(TYPE) & 0xff);
        int slot = b.get(SLOT) & 0xff;
        int raidSlot = b.getShort(RAID_SLOT) & 0xffff;
        long sequence = b.getLong(SEQUENCE);
        if (type.carriesDeviceUuid()) {
            byte[] uuid = new byte[16];
            b.get(UUID, uuid);
            return new ClusterMessage(type, slot, raidSlot, 0, 0, uuid, sequence);
        }
        return new ClusterMessage(type, slot, raidSlot, b.getLong(LOW), b.getLong(HIGH), null, sequence);
    }
}
