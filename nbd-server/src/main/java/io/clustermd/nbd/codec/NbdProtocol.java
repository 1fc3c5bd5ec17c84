package io.clustermd.nbd.codec;

/**
 * Wire constants of the NBD protocol (fixed newstyle), named as in the spec's {@code nbd.h} /
 * nbdkit's {@code nbd-protocol.h}. All integers on the wire are big-endian.
 */
public final class NbdProtocol {
    private NbdProtocol() {}

    // --- handshake -------------------------------------------------------------------------
    /** "NBDMAGIC": first 8 bytes the server sends. */
    public static final long NBD_MAGIC = 0x4e42444d41474943L;
    /** "IHAVEOPT": second greeting word, and the prefix of every client option. */
    public static final long NBD_OPTS_MAGIC = 0x49484156454F5054L;
    /** Prefix of every option reply. */
    public static final long NBD_REP_MAGIC = 0x0003e889045565a9L;

    /** Server handshake flag: fixed newstyle. */
    public static final int NBD_FLAG_FIXED_NEWSTYLE = 1;
    /** Server handshake flag: the 124 zero bytes after NBD_OPT_EXPORT_NAME may be omitted. */
    public static final int NBD_FLAG_NO_ZEROES = 2;
    /** Client flag: client understands fixed newstyle. */
    public static final int NBD_FLAG_C_FIXED_NEWSTYLE = 1;
    /** Client flag: client does not want the 124 zero bytes. */
    public static final int NBD_FLAG_C_NO_ZEROES = 2;

    public static final int NBD_OPT_EXPORT_NAME = 1;
    public static final int NBD_OPT_ABORT = 2;
    public static final int NBD_OPT_LIST = 3;
    public static final int NBD_OPT_STARTTLS = 5;
    public static final int NBD_OPT_INFO = 6;
    public static final int NBD_OPT_GO = 7;
    public static final int NBD_OPT_STRUCTURED_REPLY = 8;
    public static final int NBD_OPT_LIST_META_CONTEXT = 9;
    public static final int NBD_OPT_SET_META_CONTEXT = 10;
    public static final int NBD_OPT_EXTENDED_HEADERS = 11;

    public static final int NBD_REP_ACK = 1;
    public static final int NBD_REP_SERVER = 2;
    public static final int NBD_REP_INFO = 3;
    public static final int NBD_REP_META_CONTEXT = 4;
    private static final int NBD_REP_FLAG_ERROR = 1 << 31;
    public static final int NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR | 1;
    public static final int NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR | 2;
    public static final int NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR | 3;
    public static final int NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR | 4;
    public static final int NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR | 5;
    public static final int NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR | 6;
    public static final int NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR | 7;
    public static final int NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR | 8;
    public static final int NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR | 9;

    public static final int NBD_INFO_EXPORT = 0;
    public static final int NBD_INFO_NAME = 1;
    public static final int NBD_INFO_DESCRIPTION = 2;
    public static final int NBD_INFO_BLOCK_SIZE = 3;

    // --- transmission flags (u16, sent with the export's size) ------------------------------
    public static final int NBD_FLAG_HAS_FLAGS = 1;
    public static final int NBD_FLAG_READ_ONLY = 1 << 1;
    public static final int NBD_FLAG_SEND_FLUSH = 1 << 2;
    public static final int NBD_FLAG_SEND_FUA = 1 << 3;
    public static final int NBD_FLAG_ROTATIONAL = 1 << 4;
    public static final int NBD_FLAG_SEND_TRIM = 1 << 5;
    public static final int NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int NBD_FLAG_SEND_DF = 1 << 7;
    public static final int NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int NBD_FLAG_SEND_CACHE = 1 << 10;
    public static final int NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

    // --- requests -----------------------------------------------------------------------------
    public static final int NBD_REQUEST_MAGIC = 0x25609513;
    /** Size of a (compact) request header: magic, flags, type, cookie, offset, length. */
    public static final int REQUEST_HEADER_SIZE = 28;

    public static final int NBD_CMD_READ = 0;
    public static final int NBD_CMD_WRITE = 1;
    public static final int NBD_CMD_DISC = 2;
    public static final int NBD_CMD_FLUSH = 3;
    public static final int NBD_CMD_TRIM = 4;
    public static final int NBD_CMD_CACHE = 5;
    public static final int NBD_CMD_WRITE_ZEROES = 6;
    public static final int NBD_CMD_BLOCK_STATUS = 7;

    public static final int NBD_CMD_FLAG_FUA = 1;
    public static final int NBD_CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int NBD_CMD_FLAG_DF = 1 << 2;
    public static final int NBD_CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

    // --- replies ------------------------------------------------------------------------------
    public static final int NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int SIMPLE_REPLY_HEADER_SIZE = 16;
    public static final int NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    public static final int STRUCTURED_REPLY_HEADER_SIZE = 20;

    public static final int NBD_REPLY_FLAG_DONE = 1;
    public static final int NBD_REPLY_TYPE_NONE = 0;
    public static final int NBD_REPLY_TYPE_OFFSET_DATA = 1;
    public static final int NBD_REPLY_TYPE_OFFSET_HOLE = 2;
    public static final int NBD_REPLY_TYPE_BLOCK_STATUS = 5;
    public static final int NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
    public static final int NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

    /** The one meta context we serve, and the id we give it. */
    public static final String BASE_ALLOCATION = "base:allocation";
    public static final int BASE_ALLOCATION_ID = 1;
    public static final int NBD_STATE_HOLE = 1;
    public static final int NBD_STATE_ZERO = 2;

    // --- error values (Linux errno numbers, whatever the platform) ----------------------------
    public static final int NBD_SUCCESS = 0;
    public static final int NBD_EPERM = 1;
    public static final int NBD_EIO = 5;
    public static final int NBD_ENOMEM = 12;
    public static final int NBD_EINVAL = 22;
    public static final int NBD_ENOSPC = 28;
    public static final int NBD_EOVERFLOW = 75;
    public static final int NBD_ENOTSUP = 95;
    public static final int NBD_ESHUTDOWN = 108;

    /** Spec limit on strings (export names, messages). */
    public static final int MAX_STRING_LENGTH = 4096;

    /** Name of a command for messages. */
    public static String commandName(int type) {
        return switch (type) {
            case NBD_CMD_READ -> "NBD_CMD_READ";
            case NBD_CMD_WRITE -> "NBD_CMD_WRITE";
            case NBD_CMD_DISC -> "NBD_CMD_DISC";
            case NBD_CMD_FLUSH -> "NBD_CMD_FLUSH";
            case NBD_CMD_TRIM -> "NBD_CMD_TRIM";
            case NBD_CMD_CACHE -> "NBD_CMD_CACHE";
            case NBD_CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
            case NBD_CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
            default -> "NBD_CMD_" + type + " (unknown)";
        };
    }

    /** Name of an option for messages. */
    public static String optionName(int option) {
        return switch (option) {
            case NBD_OPT_EXPORT_NAME -> "NBD_OPT_EXPORT_NAME";
            case NBD_OPT_ABORT -> "NBD_OPT_ABORT";
            case NBD_OPT_LIST -> "NBD_OPT_LIST";
            case NBD_OPT_STARTTLS -> "NBD_OPT_STARTTLS";
            case NBD_OPT_INFO -> "NBD_OPT_INFO";
            case NBD_OPT_GO -> "NBD_OPT_GO";
            case NBD_OPT_STRUCTURED_REPLY -> "NBD_OPT_STRUCTURED_REPLY";
            case NBD_OPT_LIST_META_CONTEXT -> "NBD_OPT_LIST_META_CONTEXT";
            case NBD_OPT_SET_META_CONTEXT -> "NBD_OPT_SET_META_CONTEXT";
            case NBD_OPT_EXTENDED_HEADERS -> "NBD_OPT_EXTENDED_HEADERS";
            default -> "NBD_OPT_" + option;
        };
    }
}
