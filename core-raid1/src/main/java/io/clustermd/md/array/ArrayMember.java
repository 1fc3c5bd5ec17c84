package io.clustermd.md.array;

import io.clustermd.md.MdSuperblock;
import io.clustermd.md.io.MemberDevice;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * One member of a running array: md's {@code struct md_rdev}. State changes happen under the
 * array's lock; the I/O paths read the volatile fields without locking.
 */
final class ArrayMember {

    final MemberDevice device;
    final int devNumber;
    final byte[] deviceUuid;
    final long dataOffsetSectors;
    final long dataSizeSectors;
    volatile MemberState state;
    volatile int slot;
    /** Bytes of the component that hold current data (REBUILDING: how far recovery got). */
    volatile long recoveryOffset;
    /** Rebuild only the chunks the bitmap marks (re-add), rather than everything past recoveryOffset. */
    volatile boolean bitmapRecovery;
    /**
     * The array's events when this node last changed the member's state on another node's word
     * (RE_ADD) or its own: superblocks no newer than that do not undo the change.
     */
    volatile long stateEvents;
    final AtomicInteger pending = new AtomicInteger();
    volatile long lastReadEnd = -1;
    final AtomicInteger readErrors = new AtomicInteger();

    ArrayMember(MemberDevice device, MdSuperblock sb, MemberState state, int slot, long recoveryOffset) {
        this.device = device;
        this.devNumber = sb.devNumber();
        this.deviceUuid = sb.deviceUuid();
        this.dataOffsetSectors = sb.dataOffset();
        this.dataSizeSectors = sb.dataSize();
        this.state = state;
        this.slot = slot;
        this.recoveryOffset = recoveryOffset;
    }

    long dataOffsetBytes() {
        return dataOffsetSectors * 512;
    }

    String name() {
        return device.name();
    }

    /** Receives writes: holds a slot and is not faulty. */
    boolean writable() {
        MemberState s = state;
        return s == MemberState.IN_SYNC || s == MemberState.REBUILDING;
    }

    /** Holds current data for {@code [memberOffset, memberOffset+length)}. */
    boolean readable(long memberOffset, long length) {
        MemberState s = state;
        return s == MemberState.IN_SYNC
                || (s == MemberState.REBUILDING && !bitmapRecovery && memberOffset + length <= recoveryOffset);
    }
}
