package io.clustermd.md.io;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What a {@link FaultInjectingMemberDevice} breaks: the table of dm-flakey / dm-error / md's
 * {@code faulty} personality ({@code WriteTransient}, {@code ReadPersistent}, …) as values. Immutable; install one
 * with {@link FaultInjectingMemberDevice#setPlan}.
 *
 * <p>A plan fails an operation when its kind is in {@link #ops()}, it overlaps the byte range (a flush has no
 * range and matches any range), and {@link #afterOperations()} matching operations have already passed since the
 * plan was installed.
 *
 * @param ops             the operations that fail
 * @param rangeOffset     first byte of the failing range
 * @param rangeLength     length of the failing range ({@link Long#MAX_VALUE} - offset = to the end)
 * @param afterOperations how many matching operations still succeed after installation (0 = fail at once)
 * @param deviceGone          the device has disappeared: every operation fails, as on a hot-removed disk
 */
public record FaultPlan(Set<MemberOp> ops, long rangeOffset, long rangeLength, long afterOperations,
                        boolean deviceGone) {
    private static final Set<MemberOp> WRITE_OPS = EnumSet.of(MemberOp.WRITE, MemberOp.DISCARD,
            MemberOp.WRITE_ZEROES);

    public FaultPlan {
        Objects.requireNonNull(ops, "ops");
        ops = ops.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(ops));
        if (rangeOffset < 0 || rangeLength < 0 || afterOperations < 0) {
            throw new IllegalArgumentException("negative range or count in fault plan");
        }
    }

    /** Nothing fails. */
    public static FaultPlan healthy() {
        return new FaultPlan(Set.of(), 0, Long.MAX_VALUE, 0, false);
    }

    /** EIO on every read (a disk with unreadable sectors everywhere; md's ReadPersistent). */
    public static FaultPlan failReads() {
        return new FaultPlan(EnumSet.of(MemberOp.READ), 0, Long.MAX_VALUE, 0, false);
    }

    /** EIO on every write, discard and write-zeroes (dm-flakey's {@code error_writes}); reads and flushes pass. */
    public static FaultPlan failWrites() {
        return new FaultPlan(WRITE_OPS, 0, Long.MAX_VALUE, 0, false);
    }

    /** EIO on the given operations everywhere. */
    public static FaultPlan fail(Set<MemberOp> ops) {
        return new FaultPlan(ops, 0, Long.MAX_VALUE, 0, false);
    }

    /** The next {@code n} operations of the given kinds succeed, every later one fails with EIO. */
    public static FaultPlan failAfter(long n, Set<MemberOp> ops) {
        return new FaultPlan(ops, 0, Long.MAX_VALUE, n, false);
    }

    /** The next {@code n} operations of any kind succeed, every later one fails with EIO. */
    public static FaultPlan failAfter(long n) {
        return failAfter(n, EnumSet.allOf(MemberOp.class));
    }

    /** EIO for the given operations when they touch {@code [offset, offset + length)} (bad sectors). */
    public static FaultPlan failRange(long offset, long length, Set<MemberOp> ops) {
        return new FaultPlan(ops, offset, length, 0, false);
    }

    /** The device is gone: every operation fails with EIO, like I/O to a removed or offlined disk. */
    public static FaultPlan gone() {
        return new FaultPlan(EnumSet.allOf(MemberOp.class), 0, Long.MAX_VALUE, 0, true);
    }

    /** True if an operation of this kind and range is covered (ignoring {@link #afterOperations()}). */
    boolean matches(MemberOp op, long offset, long length) {
        if (!ops.contains(op)) {
            return false;
        }
        if (op == MemberOp.FLUSH || deviceGone) {
            return true;
        }
        long rangeEnd = rangeLength > Long.MAX_VALUE - rangeOffset ? Long.MAX_VALUE : rangeOffset + rangeLength;
        long end = length > Long.MAX_VALUE - offset ? Long.MAX_VALUE : offset + length;
        // A zero-length request still "touches" its offset for the purpose of a bad-sector range.
        return offset < rangeEnd && Math.max(end, offset + 1) > rangeOffset;
    }
}
