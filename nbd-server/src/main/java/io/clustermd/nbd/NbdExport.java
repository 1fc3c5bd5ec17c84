package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One export: a name clients ask for, an optional description, and the backend that serves it
 * (nbdkit's export list entry). The transmission flags come from the backend's declared
 * capabilities only, so the server never promises what the backend does not do.
 */
public record NbdExport(String name, String description, BlockBackend backend) {

    public NbdExport {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(backend, "backend");
        if (name.getBytes(StandardCharsets.UTF_8).length > MAX_STRING_LENGTH) {
            throw new IllegalArgumentException("export name is longer than 4096 bytes");
        }
        int min = backend.minimumBlockSize();
        int pref = backend.preferredBlockSize();
        int max = backend.maximumPayload();
        if (Integer.bitCount(min) != 1 || min > 65536) {
            throw new IllegalArgumentException("minimum block size " + min + " (expected: a power of two from 1 to 65536)");
        }
        if (Integer.bitCount(pref) != 1 || pref < Math.max(512, min)) {
            throw new IllegalArgumentException("preferred block size " + pref + " (expected: a power of two >= max(512, minimum))");
        }
        if (max < pref || max % min != 0) {
            throw new IllegalArgumentException("maximum payload " + max + " (expected: >= preferred and a multiple of the minimum)");
        }
    }

    /** The u16 transmission flags for this export. */
    public int transmissionFlags() {
        BlockBackend b = backend;
        int f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_DF;
        if (b.isReadOnly()) {
            f |= NBD_FLAG_READ_ONLY;
        }
        if (b.canFlush()) {
            f |= NBD_FLAG_SEND_FLUSH;
            // The kernel sets FUA only when FLUSH is also advertised; FUA without a flush makes no sense.
            if (b.canFua()) {
                f |= NBD_FLAG_SEND_FUA;
            }
        }
        if (b.isRotational()) {
            f |= NBD_FLAG_ROTATIONAL;
        }
        if (!b.isReadOnly() && b.canTrim()) {
            f |= NBD_FLAG_SEND_TRIM;
        }
        if (!b.isReadOnly() && b.canZero()) {
            f |= NBD_FLAG_SEND_WRITE_ZEROES;
            if (b.canFastZero()) {
                f |= NBD_FLAG_SEND_FAST_ZERO;
            }
        }
        if (b.canMultiConn()) {
            f |= NBD_FLAG_CAN_MULTI_CONN;
        }
        if (b.canCache()) {
            f |= NBD_FLAG_SEND_CACHE;
        }
        return f;
    }
}
