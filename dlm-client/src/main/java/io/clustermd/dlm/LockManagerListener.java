package io.clustermd.dlm;

/**
 * Membership events of a {@link LockManager}. For the kernel DLM the nearest counterpart is the
 * {@code recover_slot} callback of {@code dlm_lockspace_ops} (not available to userspace) and
 * fencing by {@code dlm_controld}; the lock-based failure detection of md-cluster (a queued request
 * on the other node's lock) works with every backend and does not need this listener.
 */
public interface LockManagerListener {
    /**
     * Another node left. {@code failed} is true if it died holding locks, which the lock manager
     * then released (and whose LVBs it invalidated where it held PW/EX) after its fencing grace.
     */
    default void nodeLeft(String nodeId, boolean failed) {
    }

    /**
     * This node lost its lock manager and must stop writing to shared storage now: its locks
     * will be (or have been) given to others. Called before the lock manager gives them away
     * (for ZooKeeper: before the session can expire on the server). Every lockspace of this
     * manager is dead afterwards: its pending operations fail and new ones are refused.
     */
    default void selfFenced(String reason) {
    }

    /**
     * After {@link #selfFenced}, this node joined again as a new member with a new node id;
     * lockspaces must be opened again.
     */
    default void rejoined(String newNodeId) {
    }
}
