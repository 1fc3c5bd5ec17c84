package io.clustermd.md.cluster;

/**
 * The kinds of cluster message; md-cluster.c's {@code enum msg_type}, with md's numbers (new kinds
 * are only ever appended there, so the numbers are stable).
 */
public enum MessageType {
    /** {@code METADATA_UPDATED}: the sender wrote the superblocks; re-read them. */
    METADATA_UPDATED(0),
    /** {@code RESYNCING}: the sender resyncs {@code [low, high)} (sectors); {@code 0,0} ends it. */
    RESYNCING(1),
    /** {@code NEWDISK}: a member with this device UUID is being added; confirm you can see it. */
    NEWDISK(2),
    /** {@code REMOVE}: the member with this descriptor number is removed. */
    REMOVE(3),
    /** {@code RE_ADD}: the member with this descriptor number comes back (clear Faulty). */
    RE_ADD(4),
    /** {@code BITMAP_NEEDS_SYNC}: the sender left with its bitmap unsynced; recover its slot. */
    BITMAP_NEEDS_SYNC(5),
    /** {@code CHANGE_CAPACITY}: make the already agreed new size visible. */
    CHANGE_CAPACITY(6),
    /** {@code BITMAP_RESIZE}: the bitmap grows to {@code high} sectors. */
    BITMAP_RESIZE(7),
    /** {@code RESYNCING_START}: the sender starts a resync (clears WAITING_FOR_SYNC). */
    RESYNCING_START(8),
    /**
     * Not in md (whose DLM tells every node of joins): the sender took its slot; watch it, so
     * its death is noticed. clustermd's own number, after md's.
     */
    NODE_JOINED(64),
    /**
     * Not in md: the sender took over dead slot {@code raidSlot}'s dirty bits; until it says
     * {@link #SLOT_RECOVERED}, read everything from the first in-sync member.
     */
    SLOT_RECOVERING(65),
    /**
     * Not in md: the dead slot {@code raidSlot}'s dirty bits are durable in the sender's slot;
     * read the chunks dirty there from the first member until the sender's resync ends.
     */
    SLOT_RECOVERED(66);

    private static final java.util.Map<Integer, MessageType> BY_CODE = java.util.Arrays.stream(values())
            .collect(java.util.stream.Collectors.toUnmodifiableMap(MessageType::code, t -> t));

    private final int code;

    MessageType(int code) {
        this.code = code;
    }

    /** md's number for this type. */
    public int code() {
        return code;
    }

    /** True for the types whose payload is a device UUID rather than a {@code low, high} range. */
    public boolean carriesDeviceUuid() {
        return this == NEWDISK;
    }

    /**
     * The type with md's number {@code code}.
     *
     * @throws IllegalArgumentException for a number md does not define
     */
    public static MessageType ofCode(int code) {
        MessageType t = BY_CODE.get(code);
        if (t == null) {
            throw new IllegalArgumentException("unknown cluster message type " + code
                    + " (known: md's 0..8 and clustermd's 64..66); a node of a newer version may be in the cluster");
        }
        return t;
    }
}
