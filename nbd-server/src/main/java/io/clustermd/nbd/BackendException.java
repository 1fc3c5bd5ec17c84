package io.clustermd.nbd;

import java.io.IOException;

/**
 * A backend failure with the NBD error to send (nbdkit's {@code *err} out-parameter). The values
 * are the Linux errno numbers the NBD protocol uses on every platform.
 */
public final class BackendException extends IOException {
    private static final long serialVersionUID = 1L;

    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    private final int errno;

    public BackendException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public BackendException(int errno, String message, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    /** The NBD error value. */
    public int errno() {
        return errno;
    }

    /** The NBD error value for any failure: a BackendException's own, ENOSPC for a full disk, else EIO. */
    public static int errnoOf(Throwable t) {
        Throwable c = t;
        while (c instanceof java.util.concurrent.CompletionException || c instanceof java.util.concurrent.ExecutionException) {
            if (c.getCause() == null) {
                break;
            }
            c = c.getCause();
        }
        if (c instanceof BackendException be) {
            return be.errno;
        }
        String m = c.getMessage();
        if (c instanceof IOException && m != null && m.contains("No space left")) {
            return ENOSPC;
        }
        return EIO;
    }
}
