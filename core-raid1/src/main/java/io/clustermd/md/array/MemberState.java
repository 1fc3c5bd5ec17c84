package io.clustermd.md.array;

/** A member's state in the running array (md's rdev flags In_sync / Faulty / spare / recovering). */
public enum MemberState {
    /** Holds a slot and all its data (md In_sync). */
    IN_SYNC,
    /** Holds a slot and is being rebuilt from {@code recovery_offset} (md: raid_disk >= 0, !In_sync). */
    REBUILDING,
    /** Holds no slot (md role 0xffff). */
    SPARE,
    /** Failed (md Faulty, role 0xfffe): no I/O goes to it. */
    FAULTY
}
