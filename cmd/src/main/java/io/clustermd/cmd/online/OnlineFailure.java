package io.clustermd.cmd.online;

/** An online command failed: clusterctl prints "clusterctl: " and this one-line message and exits 1. */
public final class OnlineFailure extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public OnlineFailure(String message) {
        super(message);
    }

    public OnlineFailure(String message, Throwable cause) {
        super(message, cause);
    }
}
