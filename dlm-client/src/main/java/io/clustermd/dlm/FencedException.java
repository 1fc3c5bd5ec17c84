package io.clustermd.dlm;

/**
 * Thrown (or the cause of a {@link LockStatus#FAILED} result) when this node has been fenced
 * from its lock manager: locks held before are no longer ours.
 */
public class FencedException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public FencedException(String message) {
        super(message);
    }
}
