package io.clustermd.control;

import com.fasterxml.jackson.annotation.JsonProperty;

/** md's {@code sync_action}: what the sync thread is doing. */
public enum SyncAction {
    @JsonProperty("idle") IDLE,
    /** Making members identical after an unclean stop or create (mdstat "resync"). */
    @JsonProperty("resync") RESYNC,
    /** Rebuilding an added or re-added member (mdstat "recovery"). */
    @JsonProperty("recover") RECOVER,
    /** Reading all members and counting mismatches (mdstat "check"). */
    @JsonProperty("check") CHECK,
    /** As check, rewriting what differs (mdstat shows it as "resync", as md does). */
    @JsonProperty("repair") REPAIR
}
