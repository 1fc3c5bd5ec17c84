package io.clustermd.control;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Why a needed sync action is not running (mdstat's {@code resync=PENDING/DELAYED/REMOTE}). */
public enum SyncWait {
    /** Needed but not started yet (md: recovery_cp < MaxSector with no sync thread; md-cluster: waiting for the resync lock). */
    @JsonProperty("pending") PENDING,
    /** Waiting for another array on the same devices to finish (md's MD_RESYNC_DELAYED). */
    @JsonProperty("delayed") DELAYED,
    /** Another cluster node is resyncing this array (md's MD_RESYNCING_REMOTE). */
    @JsonProperty("remote") REMOTE
}
