package io.clustermd.control;

import java.util.List;

/**
 * md-cluster facts (md's {@code md_cluster_info}, the clustered bitmap's node count). Every field may
 * be null: a daemon fills what it knows.
 *
 * @param clusterName the cluster name in the bitmap superblock (--detail's "Cluster Name")
 * @param nodeSlot    this node's bitmap slot ({@code slot_number - 1})
 * @param nodes       bitmap slots of the array (mdadm {@code --nodes})
 * @param slots       what each slot in use is doing, when known
 */
public record ClusterStatus(String clusterName, Integer nodeSlot, Integer nodes, List<SlotStatus> slots) {

    public ClusterStatus {
        slots = slots == null ? null : List.copyOf(slots);
    }

    /**
     * One node slot as this node sees it.
     *
     * @param slot              the bitmap slot
     * @param node              the node holding it (host name or lock-manager node id), if known
     * @param state             active, resyncing, recovering or gone, if known
     * @param resyncLowSector   start of the slot's announced resync window (md's suspend_info), if any
     * @param resyncHighSector  end of that window, if any
     */
    public record SlotStatus(int slot, String node, String state, Long resyncLowSector, Long resyncHighSector) {
    }
}
