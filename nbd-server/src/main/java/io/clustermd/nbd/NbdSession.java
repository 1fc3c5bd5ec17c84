package io.clustermd.nbd;

/**
 * What the handshake of one connection negotiated, read by the transmission phase.
 */
final class NbdSession {
    NbdExport export;
    /** NBD_OPT_STRUCTURED_REPLY was acknowledged. */
    boolean structuredReplies;
    /** base:allocation was selected with NBD_OPT_SET_META_CONTEXT. */
    boolean baseAllocation;
    /** NBD_FLAG_C_NO_ZEROES. */
    boolean noZeroes;
    /** Cached export.transmissionFlags(). */
    int transmissionFlags;
}
