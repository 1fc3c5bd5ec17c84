package io.clustermd.md.array;

import java.util.List;

/**
 * How array addresses map onto members: md's {@code struct md_personality} reduced to the address
 * arithmetic (raid1.c, raid10.c). Implementations are pure and thread-safe.
 */
public interface Personality {

    /** md level number: 1 or 10. */
    int level();

    /** Array size in bytes for members of {@code componentBytes} each. */
    long arrayBytes(long componentBytes);

    /** Bytes of the bitmap's sync space (raid1: component, raid10: array). */
    long syncBytes(long componentBytes);

    /**
     * Splits the array range {@code [offset, offset+length)} into pieces that each map to one set
     * of copies: for every piece, one {@link Extent} per copy, in preference order.
     */
    List<Piece> map(long offset, long length);

    /**
     * True where reads should go to the copy at the lowest member address rather than be balanced
     * over all copies (md raid10's {@code read_balance} for far layouts: the first region is the
     * fastest part of a disk, and reading it stripes like raid0).
     */
    /**
     * md's {@code enough()}: true when every block has at least one copy on a slot {@code inSync}
     * accepts, i.e. the array can run with just those members.
     */
    boolean enough(java.util.function.IntPredicate inSync);

    /**
     * md's {@code recovery_offset} after a full recovery has rebuilt the array range {@code [0,
     * arrayBytes)} of a member: the member bytes below it are all current. 0 where no prefix of the
     * member can be named (layouts whose copies are not in array order).
     */
    long recoveredMemberBytes(long arrayBytes);

    /** Where in the array a full recovery resumes for a member current below {@code memberBytes}. */
    long recoveryResumesAt(long memberBytes);

    default boolean readsFromLowestAddress() {
        return false;
    }

    /** One contiguous array range and where its copies live. */
    record Piece(long arrayOffset, long length, List<Extent> copies) {
    }

    /** One copy of a piece: the member slot (raid disk) and the byte offset in that member's data area. */
    record Extent(int slot, long memberOffset) {
    }
}
