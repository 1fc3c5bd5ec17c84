package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import io.clustermd.nbd.codec.NbdRequest;

/**
 * The one place every transmission request is checked before a backend sees it (nbdkit's
 * {@code validate_request}): known command, legal flags for the command and for what was
 * negotiated, range inside the export, sizes within the advertised limits, alignment to the
 * minimum block size (for every client, whether it asked for block sizes or not), and writes on a
 * read-only export.
 */
final class RequestValidator {
    private RequestValidator() {}

    /** A refused request: the NBD error and a message that says what was wrong. */
    record Invalid(int errno, String message) {}

    private static final int KNOWN_FLAGS = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF
            | NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_FAST_ZERO;

    /** Returns null when the request may go to the backend. */
    static Invalid validate(NbdRequest r, NbdSession s) {
        String cmd = commandName(r.type());
        int tf = s.transmissionFlags;
        BlockBackend b = s.export.backend();
        long size = b.size();

        // Commands the export does not offer.
        switch (r.type()) {
            case NBD_CMD_READ, NBD_CMD_WRITE -> { }
            case NBD_CMD_FLUSH -> { if ((tf & NBD_FLAG_SEND_FLUSH) == 0) return inval(cmd, "the export does not support flush"); }
            case NBD_CMD_TRIM -> { if ((tf & NBD_FLAG_SEND_TRIM) == 0) return inval(cmd, "the export does not support trim"); }
            case NBD_CMD_WRITE_ZEROES -> { if ((tf & NBD_FLAG_SEND_WRITE_ZEROES) == 0) return inval(cmd, "the export does not support write zeroes"); }
            case NBD_CMD_CACHE -> { if ((tf & NBD_FLAG_SEND_CACHE) == 0) return inval(cmd, "the export does not support cache"); }
            case NBD_CMD_BLOCK_STATUS -> {
                if (!s.structuredReplies || !s.baseAllocation) {
                    return inval(cmd, "no meta context was negotiated (NBD_OPT_SET_META_CONTEXT base:allocation)");
                }
            }
            default -> { return inval(cmd, "unknown command"); }
        }

        // Flags.
        int f = r.flags();
        if ((f & ~KNOWN_FLAGS) != 0) {
            return inval(cmd, String.format("unknown command flags 0x%x", f & ~KNOWN_FLAGS));
        }
        if ((f & NBD_CMD_FLAG_FUA) != 0 && (tf & NBD_FLAG_SEND_FUA) == 0) {
            return inval(cmd, "FUA flag set but the export does not support FUA");
        }
        if ((f & NBD_CMD_FLAG_NO_HOLE) != 0 && r.type() != NBD_CMD_WRITE_ZEROES) {
            return inval(cmd, "NO_HOLE flag is only valid on NBD_CMD_WRITE_ZEROES");
        }
        if ((f & NBD_CMD_FLAG_FAST_ZERO) != 0
                && (r.type() != NBD_CMD_WRITE_ZEROES || (tf & NBD_FLAG_SEND_FAST_ZERO) == 0)) {
            return inval(cmd, "FAST_ZERO flag is only valid on NBD_CMD_WRITE_ZEROES of an export that advertises it");
        }
        if ((f & NBD_CMD_FLAG_DF) != 0 && (r.type() != NBD_CMD_READ || !s.structuredReplies)) {
            return inval(cmd, "DF flag is only valid on NBD_CMD_READ with structured replies");
        }
        if ((f & NBD_CMD_FLAG_REQ_ONE) != 0 && r.type() != NBD_CMD_BLOCK_STATUS) {
            return inval(cmd, "REQ_ONE flag is only valid on NBD_CMD_BLOCK_STATUS");
        }

        if (r.type() == NBD_CMD_FLUSH) {
            if (r.offset() != 0 || r.length() != 0) {
                return inval(cmd, "offset and length must be 0");
            }
            return null;
        }

        // Read-only export: EPERM, as the spec says (nbdkit's EROFS maps to it).
        boolean writes = r.type() == NBD_CMD_WRITE || r.type() == NBD_CMD_TRIM || r.type() == NBD_CMD_WRITE_ZEROES;
        if (writes && (tf & NBD_FLAG_READ_ONLY) != 0) {
            return new Invalid(NBD_EPERM, "invalid request: " + cmd + ": the export is read-only");
        }

        int max = b.maximumPayload();
        if ((r.type() == NBD_CMD_READ || r.type() == NBD_CMD_WRITE) && (r.length() > max || r.payloadDiscarded())) {
            return new Invalid(NBD_EOVERFLOW, "invalid request: " + cmd + ": length " + r.length()
                    + " exceeds the maximum payload " + max);
        }
        if (r.length() == 0) {
            return inval(cmd, "length 0");
        }
        long off = r.offset();
        if (off < 0 || off > size || r.length() > size - off) {
            String m = "invalid request: " + cmd + ": offset " + Long.toUnsignedString(off) + " + length "
                    + r.length() + " is beyond the end of the export (size " + size + ")";
            return new Invalid(writes ? NBD_ENOSPC : NBD_EINVAL, m);
        }
        // Every client keeps to the minimum block size, whether it asked for it or not: the backend
        // then never has to read-modify-write a block, and no unaligned write can race an aligned
        // one over the rest of the block. Only the export's own unaligned end may be reached.
        int min = b.minimumBlockSize();
        boolean toEnd = off + r.length() == size;
        if (min > 1 && r.type() != NBD_CMD_BLOCK_STATUS
                && ((off & (min - 1)) != 0 || (r.length() & (min - 1)) != 0 && !toEnd)) {
            return inval(cmd, "offset " + off + " or length " + r.length()
                    + " is not a multiple of the minimum block size " + min);
        }
        return null;
    }

    private static Invalid inval(String cmd, String why) {
        return new Invalid(NBD_EINVAL, "invalid request: " + cmd + ": " + why);
    }
}
