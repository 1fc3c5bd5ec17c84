package io.clustermd.control;

import java.util.List;

/**
 * md-cluster facts (md's {@code md_cluster_info}, the clustered bitmap's node count, the lock
 * manager). Every field may be null: a daemon fills what it knows.
 *
 * @param clusterName    the cluster name in the bitmap superblock (--detail's "Cluster Name")
 * @param nodeSlot       this node's bitmap slot ({@code slot_number - 1})
 * @param slotCount      bitmap slots of the array (mdadm {@code --nodes})
 * @param nodes          the live nodes as this node sees them, itself included, by slot
 * @param lockBackend    the lock manager: {@code zookeeper}, {@code libdlm} or {@code local}
 * @param lockHealth     {@code ok}, or what is wrong with the lock manager
 * @param messagesSent     cluster messages this node sent
 * @param messagesReceived cluster messages this node processed
 * @param lockRequests     lock requests this node sent in the array's lockspace
 * @param lockRequestsPerSecond the recent rate of those (0 while only ordinary I/O runs)
 */
public record ClusterStatus(String clusterName, Integer nodeSlot, Integer slotCount, List<SlotStatus> nodes,
                            String lockBackend, String lockHealth, Long messagesSent, Long messagesReceived,
                            Long lockRequests, Double lockRequestsPerSecond) {

    public ClusterStatus {
        nodes = nodes == null ? null : List.copyOf(nodes);
    }

    /** Only what the superblocks say (a daemon without cluster runtime facts). */
    public ClusterStatus(String clusterName, Integer nodeSlot, Integer slotCount, List<SlotStatus> nodes) {
        this(clusterName, nodeSlot, slotCount, nodes, null, null, null, null, null, null);
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
