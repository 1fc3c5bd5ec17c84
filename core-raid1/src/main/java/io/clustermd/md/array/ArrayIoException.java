package io.clustermd.md.array;

import java.io.IOException;

/** An array request that no member could serve (the NBD reply becomes EIO). */
public final class ArrayIoException extends IOException {
    private static final long serialVersionUID = 1L;

    private final boolean stopping;

    public ArrayIoException(String message, Throwable cause) {
        this(message, cause, false);
    }

    private ArrayIoException(String message, Throwable cause, boolean stopping) {
        super(message, cause);
        this.stopping = stopping;
    }

    /** Refused because the array is stopping (NBD's ESHUTDOWN), not because a member failed. */
    public static ArrayIoException stopping() {
        return new ArrayIoException("the array is stopping", null, true);
    }

    public boolean isStopping() {
        return stopping;
    }
}
