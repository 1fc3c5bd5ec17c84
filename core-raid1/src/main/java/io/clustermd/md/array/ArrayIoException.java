package io.clustermd.md.array;

import java.io.IOException;

/** An array request that no member could serve (the NBD reply becomes EIO). */
public final class ArrayIoException extends IOException {
    private static final long serialVersionUID = 1L;

    public ArrayIoException(String message, Throwable cause) {
        super(message, cause);
    }
}
