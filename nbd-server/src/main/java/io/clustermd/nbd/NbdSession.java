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
    /** The client asked for NBD_INFO_BLOCK_SIZE in NBD_OPT_GO and so promised to obey it. */
    boolean blockSizeAgreed;
    /** NBD_FLAG_C_NO_ZEROES. */
    boolean noZeroes;
    /** Cached export.transmissionFlags(). */
    int transmissionFlags;
}
