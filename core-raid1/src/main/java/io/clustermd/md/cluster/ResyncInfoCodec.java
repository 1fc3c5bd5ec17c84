package io.clustermd.md.cluster;

import io.clustermd.dlm.Lvb;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The resync window a node publishes in the LVB of its own {@code bitmapNNNN} lock;
 * md-cluster.c's {@code struct resync_info} ({@code lo}, {@code hi}, le64 sectors). A node that
 * joins reads every live node's window from there (md's {@code gather_all_resync_info}).
 */
public final class ResyncInfoCodec {

    /** {@code lo}: first sector of the window (le64). */
    static final int LO = 0;
    /** {@code hi}: end sector of the window (le64); 0 = no resync in progress. */
    static final int HI = 8;
    /**
     * Not in md: 1 when the owner left cleanly and wrote this on its way out. A dead owner's LVB
     * is marked invalid by the lock manager instead, so a watcher can tell a leave from a death.
     */
    static final int LEFT_CLEANLY = 16;
    /**
     * Not in md: 1 while the owner holds dirty chunks it took over from a dead node and has not
     * resynced yet. A node that joins then missed SLOT_RECOVERED: it reads the owner's dirty chunks
     * from the first member until the owner's resync ends, as the other nodes do.
     */
    static final int HOLDS_TAKEN_OVER = 17;

    private ResyncInfoCodec() {
    }

    /** A resync window {@code [lo, hi)}; {@code hi == 0} means none. */
    public record Window(long lo, long hi) {
        /** No resync in progress. */
        public static final Window NONE = new Window(0, 0);

        public Window {
            if (lo < 0 || hi < 0 || (hi != 0 && hi < lo)) {
                throw new IllegalArgumentException("bad resync window [" + lo + ", " + hi + ")");
            }
        }

        /** True if the node announces a window. */
        public boolean active() {
            return hi != 0;
        }
    }

    /** The LVB holding {@code window}. */
    public static byte[] encode(Window window) {
        return ByteBuffer.allocate(Lvb.LENGTH).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(LO, window.lo()).putLong(HI, window.hi()).array();
    }

    /** The LVB holding {@code window}, saying whether the owner holds taken-over chunks not yet resynced. */
    public static byte[] encode(Window window, boolean holdsTakenOver) {
        byte[] lvb = encode(window);
        lvb[HOLDS_TAKEN_OVER] = (byte) (holdsTakenOver ? 1 : 0);
        return lvb;
    }

    /** True if the LVB says its owner holds taken-over chunks it has not resynced yet. */
    public static boolean holdsTakenOver(byte[] lvb) {
        return lvb != null && lvb.length == Lvb.LENGTH && lvb[HOLDS_TAKEN_OVER] == 1;
    }

    /** The LVB a node writes when it releases its slot after a clean stop. */
    public static byte[] encodeLeftCleanly() {
        byte[] lvb = encode(Window.NONE);
        lvb[LEFT_CLEANLY] = 1;
        return lvb;
    }

    /** True if the LVB says its owner left cleanly. */
    public static boolean leftCleanly(byte[] lvb) {
        return lvb != null && lvb.length == Lvb.LENGTH && lvb[LEFT_CLEANLY] == 1;
    }

    /**
     * The window in an LVB; an absent LVB (never written) is {@link Window#NONE}.
     *
     * @throws IllegalArgumentException for a malformed window
     */
    public static Window decode(byte[] lvb) {
        if (lvb == null) {
            return Window.NONE;
        }
        if (lvb.length != Lvb.LENGTH) {
            throw new IllegalArgumentException("a resync-info LVB is " + Lvb.LENGTH + " bytes, got " + lvb.length);
        }
        ByteBuffer b = ByteBuffer.wrap(lvb).order(ByteOrder.LITTLE_ENDIAN);
        return new Window(b.getLong(LO), b.getLong(HI));
    }
}
