package io.clustermd.control;

import com.fasterxml.jackson.annotation.JsonProperty;

/** A member's role in the array, as md's rdev flags ({@code In_sync}, {@code Faulty}, raid_disk) give it. */
public enum MemberState {
    /** Holds a slot and has all its data (md: In_sync, raid_disk ≥ 0; mdadm "active sync"). */
    @JsonProperty("in_sync") IN_SYNC,
    /** Failed: no I/O goes to it until it is removed (md: Faulty; mdadm "faulty"). */
    @JsonProperty("faulty") FAULTY,
    /** Holds no slot, waits to be used by recovery (md: raid_disk -1; mdadm "spare"). */
    @JsonProperty("spare") SPARE,
    /** Has a slot and is being recovered up to its recovery offset (mdadm "spare rebuilding"). */
    @JsonProperty("rebuilding") REBUILDING
}
