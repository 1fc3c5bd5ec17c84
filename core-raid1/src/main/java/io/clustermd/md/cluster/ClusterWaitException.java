package io.clustermd.md.cluster;

/** A cluster lock step that was not granted within its bound; the message says which lock and why. */
public class ClusterWaitException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ClusterWaitException(String message) {
        super(message);
    }
}
