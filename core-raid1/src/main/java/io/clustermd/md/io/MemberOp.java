package io.clustermd.md.io;

/**
 * The operations a {@link MemberDevice} performs, named after the bio operations md submits to a member
 * ({@code REQ_OP_READ}, {@code REQ_OP_WRITE}, {@code REQ_PREFLUSH}, {@code REQ_OP_DISCARD},
 * {@code REQ_OP_WRITE_ZEROES}).
 */
public enum MemberOp {
    READ("read"),
    WRITE("write"),
    FLUSH("flush"),
    DISCARD("discard"),
    WRITE_ZEROES("write-zeroes");

    private final String label;

    MemberOp(String label) {
        this.label = label;
    }

    /** The word used in error messages ("read", "write", "flush", "discard", "write-zeroes"). */
    public String label() {
        return label;
    }

    /** True for the operations that change the device's contents (write, discard, write-zeroes). */
    public boolean modifiesData() {
        return this == WRITE || this == DISCARD || this == WRITE_ZEROES;
    }
}
