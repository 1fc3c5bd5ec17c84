package io.clustermd.bitmap;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Codec for md's {@code bitmap_super_t} (md-bitmap.h / mdadm bitmap.h): 256 bytes, little-endian.
 * {@link #decode} reads fields without judging them; {@link #validate} applies the checks of the
 * kernel's {@code md_bitmap_read_sb}; {@link #encode} writes the exact bytes (reserved bytes zero).
 */
public final class BitmapSuperblockCodec {

    /** {@code BITMAP_MAGIC}: "bitm" read as a little-endian u32. */
    public static final int BITMAP_MAGIC = 0x6d746962;

    // Byte offsets inside bitmap_super_t.
    static final int OFF_MAGIC = 0;             // __le32 magic
    static final int OFF_VERSION = 4;           // __le32 version
    static final int OFF_UUID = 8;              // __u8 uuid[16]
    static final int OFF_EVENTS = 24;           // __le64 events
    static final int OFF_EVENTS_CLEARED = 32;   // __le64 events_cleared
    static final int OFF_SYNC_SIZE = 40;        // __le64 sync_size
    static final int OFF_STATE = 48;            // __le32 state
    static final int OFF_CHUNKSIZE = 52;        // __le32 chunksize
    static final int OFF_DAEMON_SLEEP = 56;     // __le32 daemon_sleep
    static final int OFF_WRITE_BEHIND = 60;     // __le32 write_behind
    static final int OFF_SECTORS_RESERVED = 64; // __le32 sectors_reserved
    static final int OFF_NODES = 68;            // __le32 nodes
    static final int OFF_CLUSTER_NAME = 72;     // __u8 cluster_name[64]
    static final int CLUSTER_NAME_BYTES = 64;
    // 136..255: __u8 pad[120], zero.

    private BitmapSuperblockCodec() {
    }

    /** Reads the 256 bytes at the buffer's position (the position does not move). */
    public static BitmapSuperblock decode(ByteBuffer source) {
        ByteBuffer b = source.slice(source.position(), BitmapGeometry.SUPERBLOCK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        byte[] uuid = new byte[16];
        b.get(OFF_UUID, uuid);
        byte[] name = new byte[CLUSTER_NAME_BYTES];
        b.get(OFF_CLUSTER_NAME, name);
        return new BitmapSuperblock(
                b.getInt(OFF_MAGIC), b.getInt(OFF_VERSION), uuid,
                b.getLong(OFF_EVENTS), b.getLong(OFF_EVENTS_CLEARED), b.getLong(OFF_SYNC_SIZE),
                b.getInt(OFF_STATE), b.getInt(OFF_CHUNKSIZE), b.getInt(OFF_DAEMON_SLEEP),
                b.getInt(OFF_WRITE_BEHIND), b.getInt(OFF_SECTORS_RESERVED), b.getInt(OFF_NODES),
                cString(name));
    }

    /** Writes the 256 bytes of {@code sb} at the buffer's position (the position does not move). */
    public static void encode(BitmapSuperblock sb, ByteBuffer target) {
        ByteBuffer b = target.slice(target.position(), BitmapGeometry.SUPERBLOCK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, new byte[BitmapGeometry.SUPERBLOCK_BYTES]);
        b.putInt(OFF_MAGIC, sb.magic());
        b.putInt(OFF_VERSION, sb.version());
        b.put(OFF_UUID, sb.uuid());
        b.putLong(OFF_EVENTS, sb.events());
        b.putLong(OFF_EVENTS_CLEARED, sb.eventsCleared());
        b.putLong(OFF_SYNC_SIZE, sb.syncSize());
        b.putInt(OFF_STATE, sb.state());
        b.putInt(OFF_CHUNKSIZE, sb.chunkSize());
        b.putInt(OFF_DAEMON_SLEEP, sb.daemonSleep());
        b.putInt(OFF_WRITE_BEHIND, sb.writeBehind());
        b.putInt(OFF_SECTORS_RESERVED, sb.sectorsReserved());
        b.putInt(OFF_NODES, sb.nodes());
        byte[] name = sb.clusterName().getBytes(StandardCharsets.UTF_8);
        b.put(OFF_CLUSTER_NAME, name, 0, Math.min(name.length, CLUSTER_NAME_BYTES - 1));
    }

    /** Encodes into a fresh 256-byte array. */
    public static byte[] encode(BitmapSuperblock sb) {
        byte[] out = new byte[BitmapGeometry.SUPERBLOCK_BYTES];
        encode(sb, ByteBuffer.wrap(out));
        return out;
    }

    /**
     * The kernel's checks from {@code md_bitmap_read_sb}: magic, version 3..5, chunk size a power of two
     * of at least 512, daemon_sleep within 1..3600 s, write_behind at most 16383, uuid equal to the array's.
     *
     * @param where names the device and slot in error messages, e.g. {@code "/dev/sdb: bitmap slot 1"}
     */
    public static void validate(BitmapSuperblock sb, byte[] arrayUuid, String where) throws BitmapFormatException {
        if (sb.magic() != BITMAP_MAGIC) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap magic is 0x%08x, expected 0x%08x (no md bitmap here, or it is corrupt)",
                    where, sb.magic(), BITMAP_MAGIC));
        }
        if (sb.version() < 3 || sb.version() > BitmapSuperblock.VERSION_CLUSTERED) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap version is %d, expected 3, 4 or 5 (version 6 is md's lockless bitmap, which has no"
                            + " cluster support)", where, sb.version()));
        }
        int chunk = sb.chunkSize();
        if (chunk < 512 || Integer.bitCount(chunk) != 1) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap chunksize is %d bytes, expected a power of two of at least 512", where,
                    Integer.toUnsignedLong(chunk)));
        }
        if (sb.daemonSleep() < 1 || sb.daemonSleep() > 3600) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap daemon_sleep is %d s, expected 1 to 3600", where,
                    Integer.toUnsignedLong(sb.daemonSleep())));
        }
        if (sb.writeBehind() < 0 || sb.writeBehind() > BitmapSuperblock.MAX_WRITE_BEHIND) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap write_behind is %d, expected at most %d", where,
                    Integer.toUnsignedLong(sb.writeBehind()), BitmapSuperblock.MAX_WRITE_BEHIND));
        }
        if (sb.nodes() < 0 || sb.nodes() > 4096) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap nodes is %d, expected 0 to 4096", where, Integer.toUnsignedLong(sb.nodes())));
        }
        if (arrayUuid != null && !Arrays.equals(sb.uuid(), arrayUuid)) {
            throw new BitmapFormatException(where + ": bitmap uuid does not match the array uuid in the superblock"
                    + " (the bitmap belongs to another array, or is stale)");
        }
    }

    private static String cString(byte[] bytes) {
        int len = 0;
        while (len < bytes.length && bytes[len] != 0) {
            len++;
        }
        return new String(bytes, 0, len, StandardCharsets.UTF_8);
    }
}
