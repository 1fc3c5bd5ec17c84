package io.clustermd.md;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Codec for {@code struct mdp_superblock_1}: exact bytes in both directions. {@link #decode} is a
 * faithful field reader; {@link #validate} applies the kernel's {@code super_1_load} rules;
 * {@link #encode} recomputes {@code sb_csum} ({@code calc_sb_1_csum}) and writes the bytes.
 */
public final class MdSuperblockCodec {

    /** Size of the fixed part before {@code dev_roles}. */
    public static final int FIXED_BYTES = 256;

    // Byte offsets in struct mdp_superblock_1 (md_p.h); all little-endian.
    static final int OFF_MAGIC = 0;              // __le32 magic
    static final int OFF_MAJOR_VERSION = 4;      // __le32 major_version
    static final int OFF_FEATURE_MAP = 8;        // __le32 feature_map
    static final int OFF_PAD0 = 12;              // __le32 pad0
    static final int OFF_SET_UUID = 16;          // __u8 set_uuid[16]
    static final int OFF_SET_NAME = 32;          // char set_name[32]
    static final int OFF_CTIME = 64;             // __le64 ctime
    static final int OFF_LEVEL = 72;             // __le32 level
    static final int OFF_LAYOUT = 76;            // __le32 layout
    static final int OFF_SIZE = 80;              // __le64 size
    static final int OFF_CHUNKSIZE = 88;         // __le32 chunksize
    static final int OFF_RAID_DISKS = 92;        // __le32 raid_disks
    static final int OFF_BITMAP_OFFSET = 96;     // __le32 bitmap_offset (union ppl.offset/ppl.size)
    static final int OFF_NEW_LEVEL = 100;        // __le32 new_level
    static final int OFF_RESHAPE_POSITION = 104; // __le64 reshape_position
    static final int OFF_DELTA_DISKS = 112;      // __le32 delta_disks
    static final int OFF_NEW_LAYOUT = 116;       // __le32 new_layout
    static final int OFF_NEW_CHUNK = 120;        // __le32 new_chunk
    static final int OFF_NEW_OFFSET = 124;       // __le32 new_offset
    static final int OFF_DATA_OFFSET = 128;      // __le64 data_offset
    static final int OFF_DATA_SIZE = 136;        // __le64 data_size
    static final int OFF_SUPER_OFFSET = 144;     // __le64 super_offset
    static final int OFF_RECOVERY_OFFSET = 152;  // __le64 recovery_offset (union journal_tail)
    static final int OFF_DEV_NUMBER = 160;       // __le32 dev_number
    static final int OFF_CNT_CORRECTED = 164;    // __le32 cnt_corrected_read
    static final int OFF_DEVICE_UUID = 168;      // __u8 device_uuid[16]
    static final int OFF_DEVFLAGS = 184;         // __u8 devflags
    static final int OFF_BBLOG_SHIFT = 185;      // __u8 bblog_shift
    static final int OFF_BBLOG_SIZE = 186;       // __le16 bblog_size
    static final int OFF_BBLOG_OFFSET = 188;     // __le32 bblog_offset
    static final int OFF_UTIME = 192;            // __le64 utime
    static final int OFF_EVENTS = 200;           // __le64 events
    static final int OFF_RESYNC_OFFSET = 208;    // __le64 resync_offset
    static final int OFF_SB_CSUM = 216;          // __le32 sb_csum
    static final int OFF_MAX_DEV = 220;          // __le32 max_dev
    static final int OFF_LOGICAL_BLOCK = 224;    // __le32 logical_block_size
    static final int OFF_PAD3 = 228;             // __u8 pad3[28]
    static final int OFF_DEV_ROLES = 256;        // __le16 dev_roles[max_dev]

    private MdSuperblockCodec() {
    }

    /**
     * Reads a superblock from {@code bytes} (at least 256 bytes; dev_roles are read as far as
     * {@code max_dev} and the buffer allow). Nothing is judged here: see {@link #validate}.
     */
    public static MdSuperblock decode(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        MdSuperblock sb = new MdSuperblock();
        sb.magic = b.getInt(OFF_MAGIC);
        sb.majorVersion = b.getInt(OFF_MAJOR_VERSION);
        sb.featureMap = b.getInt(OFF_FEATURE_MAP);
        sb.pad0 = b.getInt(OFF_PAD0);
        b.get(OFF_SET_UUID, sb.setUuid);
        b.get(OFF_SET_NAME, sb.setName);
        sb.ctime = b.getLong(OFF_CTIME);
        sb.level = b.getInt(OFF_LEVEL);
        sb.layout = b.getInt(OFF_LAYOUT);
        sb.size = b.getLong(OFF_SIZE);
        sb.chunkSize = b.getInt(OFF_CHUNKSIZE);
        sb.raidDisks = b.getInt(OFF_RAID_DISKS);
        sb.bitmapOffset = b.getInt(OFF_BITMAP_OFFSET);
        sb.newLevel = b.getInt(OFF_NEW_LEVEL);
        sb.reshapePosition = b.getLong(OFF_RESHAPE_POSITION);
        sb.deltaDisks = b.getInt(OFF_DELTA_DISKS);
        sb.newLayout = b.getInt(OFF_NEW_LAYOUT);
        sb.newChunk = b.getInt(OFF_NEW_CHUNK);
        sb.newOffset = b.getInt(OFF_NEW_OFFSET);
        sb.dataOffset = b.getLong(OFF_DATA_OFFSET);
        sb.dataSize = b.getLong(OFF_DATA_SIZE);
        sb.superOffset = b.getLong(OFF_SUPER_OFFSET);
        sb.recoveryOffset = b.getLong(OFF_RECOVERY_OFFSET);
        sb.devNumber = b.getInt(OFF_DEV_NUMBER);
        sb.cntCorrectedRead = b.getInt(OFF_CNT_CORRECTED);
        b.get(OFF_DEVICE_UUID, sb.deviceUuid);
        sb.devFlags = b.get(OFF_DEVFLAGS) & 0xff;
        sb.bblogShift = b.get(OFF_BBLOG_SHIFT) & 0xff;
        sb.bblogSize = b.getShort(OFF_BBLOG_SIZE) & 0xffff;
        sb.bblogOffset = b.getInt(OFF_BBLOG_OFFSET);
        sb.utime = b.getLong(OFF_UTIME);
        sb.events = b.getLong(OFF_EVENTS);
        sb.resyncOffset = b.getLong(OFF_RESYNC_OFFSET);
        sb.sbCsum = b.getInt(OFF_SB_CSUM);
        sb.maxDev = b.getInt(OFF_MAX_DEV);
        sb.logicalBlockSize = b.getInt(OFF_LOGICAL_BLOCK);
        b.get(OFF_PAD3, sb.pad3);
        long roles = Math.max(0, Math.min(Integer.toUnsignedLong(sb.maxDev), (bytes.length - OFF_DEV_ROLES) / 2L));
        sb.devRoles = new int[(int) roles];
        for (int i = 0; i < roles; i++) {
            sb.devRoles[i] = b.getShort(OFF_DEV_ROLES + 2 * i) & 0xffff;
        }
        return sb;
    }

    /**
     * Encodes {@code sb} with a freshly computed checksum (which is stored back into {@code sb}).
     * The result is {@code 256 + 2*max_dev} bytes rounded up to 512, as mdadm writes it.
     */
    public static byte[] encode(MdSuperblock sb) {
        byte[] out = new byte[roundUp(sb.coveredBytes(), 512)];
        writeFields(sb, ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN));
        sb.sbCsum = checksum(out, sb.maxDev);
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putInt(OFF_SB_CSUM, sb.sbCsum);
        return out;
    }

    private static void writeFields(MdSuperblock sb, ByteBuffer b) {
        b.putInt(OFF_MAGIC, sb.magic);
        b.putInt(OFF_MAJOR_VERSION, sb.majorVersion);
        b.putInt(OFF_FEATURE_MAP, sb.featureMap);
        b.putInt(OFF_PAD0, sb.pad0);
        b.put(OFF_SET_UUID, sb.setUuid);
        b.put(OFF_SET_NAME, sb.setName);
        b.putLong(OFF_CTIME, sb.ctime);
        b.putInt(OFF_LEVEL, sb.level);
        b.putInt(OFF_LAYOUT, sb.layout);
        b.putLong(OFF_SIZE, sb.size);
        b.putInt(OFF_CHUNKSIZE, sb.chunkSize);
        b.putInt(OFF_RAID_DISKS, sb.raidDisks);
        b.putInt(OFF_BITMAP_OFFSET, sb.bitmapOffset);
        b.putInt(OFF_NEW_LEVEL, sb.newLevel);
        b.putLong(OFF_RESHAPE_POSITION, sb.reshapePosition);
        b.putInt(OFF_DELTA_DISKS, sb.deltaDisks);
        b.putInt(OFF_NEW_LAYOUT, sb.newLayout);
        b.putInt(OFF_NEW_CHUNK, sb.newChunk);
        b.putInt(OFF_NEW_OFFSET, sb.newOffset);
        b.putLong(OFF_DATA_OFFSET, sb.dataOffset);
        b.putLong(OFF_DATA_SIZE, sb.dataSize);
        b.putLong(OFF_SUPER_OFFSET, sb.superOffset);
        b.putLong(OFF_RECOVERY_OFFSET, sb.recoveryOffset);
        b.putInt(OFF_DEV_NUMBER, sb.devNumber);
        b.putInt(OFF_CNT_CORRECTED, sb.cntCorrectedRead);
        b.put(OFF_DEVICE_UUID, sb.deviceUuid);
        b.put(OFF_DEVFLAGS, (byte) sb.devFlags);
        b.put(OFF_BBLOG_SHIFT, (byte) sb.bblogShift);
        b.putShort(OFF_BBLOG_SIZE, (short) sb.bblogSize);
        b.putInt(OFF_BBLOG_OFFSET, sb.bblogOffset);
        b.putLong(OFF_UTIME, sb.utime);
        b.putLong(OFF_EVENTS, sb.events);
        b.putLong(OFF_RESYNC_OFFSET, sb.resyncOffset);
        b.putInt(OFF_SB_CSUM, 0);
        b.putInt(OFF_MAX_DEV, sb.maxDev);
        b.putInt(OFF_LOGICAL_BLOCK, sb.logicalBlockSize);
        b.put(OFF_PAD3, sb.pad3);
        for (int i = 0; i < sb.maxDev; i++) {
            b.putShort(OFF_DEV_ROLES + 2 * i, (short) sb.devRoles[i]);
        }
    }

    /**
     * {@code calc_sb_1_csum}: sum the {@code 256 + 2*max_dev} bytes as little-endian u32 words (with
     * sb_csum taken as 0) into 64 bits, add a trailing u16 if max_dev is odd, fold the carry once.
     */
    public static int checksum(byte[] raw, int maxDev) {
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        int size = FIXED_BYTES + 2 * maxDev;
        long sum = 0;
        int i = 0;
        for (; i + 4 <= size; i += 4) {
            if (i != OFF_SB_CSUM) {
                sum += Integer.toUnsignedLong(b.getInt(i));
            }
        }
        if (size - i == 2) {
            sum += b.getShort(i) & 0xffff;
        }
        long folded = (sum & 0xffffffffL) + (sum >>> 32);
        return (int) folded;
    }

    /** Checksum of a decoded superblock as it would be written (without mutating it). */
    public static int expectedChecksum(MdSuperblock sb) {
        MdSuperblock copy = sb.copy();
        encode(copy);
        return copy.sbCsum;
    }

    /**
     * The kernel's {@code super_1_load} checks for a superblock read at sector {@code readAtSector} of
     * a device of {@code deviceBytes}, plus "the data area fits the device". Throws with a message
     * naming {@code device}, the field, what was found and what was expected.
     */
    public static void validate(MdSuperblock sb, byte[] raw, long readAtSector, long deviceBytes, String device)
            throws MdFormatException {
        if (sb.magic != MdSuperblock.MAGIC) {
            throw new MdFormatException(String.format(
                    "%s: no md superblock: magic at byte %d is 0x%08x, expected 0x%08x", device,
                    readAtSector * 512, sb.magic, MdSuperblock.MAGIC));
        }
        if (sb.majorVersion != 1) {
            throw new MdFormatException(String.format(
                    "%s: superblock major_version is %d, expected 1 (only md metadata 1.x is supported)", device,
                    Integer.toUnsignedLong(sb.majorVersion)));
        }
        long maxDev = Integer.toUnsignedLong(sb.maxDev);
        if (maxDev > MdSuperblock.MAX_DEV_LIMIT) {
            throw new MdFormatException(String.format(
                    "%s: superblock max_dev is %d, expected at most %d (the superblock is corrupt)", device,
                    maxDev, MdSuperblock.MAX_DEV_LIMIT));
        }
        if (sb.superOffset != readAtSector) {
            throw new MdFormatException(String.format(
                    "%s: superblock super_offset is %d sectors but it was read at sector %d (a copied or shifted"
                            + " superblock; only metadata 1.2 at sector 8 is supported)", device,
                    sb.superOffset, readAtSector));
        }
        int unknown = sb.featureMap & ~MdSuperblock.FEATURE_ALL;
        if (unknown != 0) {
            throw new MdFormatException(String.format(
                    "%s: superblock feature_map 0x%x has unknown bits 0x%x (known: 0x%x); written by a newer md?",
                    device, sb.featureMap, unknown, MdSuperblock.FEATURE_ALL));
        }
        if (raw.length < FIXED_BYTES + 2 * maxDev) {
            throw new MdFormatException(String.format(
                    "%s: superblock needs %d bytes for max_dev %d but only %d were read (device truncated)",
                    device, FIXED_BYTES + 2 * maxDev, maxDev, raw.length));
        }
        int expected = checksum(raw, sb.maxDev);
        if (expected != sb.sbCsum) {
            throw new MdFormatException(String.format(
                    "%s: superblock checksum is %x, expected %x (the superblock is corrupt)", device,
                    Integer.toUnsignedLong(sb.sbCsum), Integer.toUnsignedLong(expected)));
        }
        if (sb.pad0 != 0) {
            throw new MdFormatException(String.format(
                    "%s: superblock pad0 is 0x%x, expected 0", device, sb.pad0));
        }
        for (byte p : sb.pad3) {
            if (p != 0) {
                throw new MdFormatException(device + ": superblock pad3 (bytes 228..255) is not zero, expected zero");
            }
        }
        if (Long.compareUnsigned(sb.dataSize, 10) < 0) {
            throw new MdFormatException(String.format(
                    "%s: superblock data_size is %d sectors, expected at least 10", device, sb.dataSize));
        }
        long sbSectors = roundUp(FIXED_BYTES + 2 * (int) maxDev, 512) / 512;
        if (Long.compareUnsigned(sb.dataOffset, readAtSector + sbSectors) < 0) {
            throw new MdFormatException(String.format(
                    "%s: superblock data_offset is %d sectors, expected at least %d (the data would overlap the"
                            + " superblock)", device, sb.dataOffset, readAtSector + sbSectors));
        }
        long deviceSectors = deviceBytes / 512;
        if (Long.compareUnsigned(sb.dataOffset + sb.dataSize, deviceSectors) > 0
                || sb.dataOffset + sb.dataSize < sb.dataOffset) {
            throw new MdFormatException(String.format(
                    "%s: data area ends at sector %d (data_offset %d + data_size %d) but the device has %d sectors"
                            + " (the device is truncated or the superblock belongs to a larger device)", device,
                    sb.dataOffset + sb.dataSize, sb.dataOffset, sb.dataSize, deviceSectors));
        }
        if (Long.compareUnsigned(sb.size, sb.dataSize) > 0 && sb.level > 0) {
            throw new MdFormatException(String.format(
                    "%s: superblock size is %d sectors, larger than data_size %d (the superblock is corrupt)",
                    device, sb.size, sb.dataSize));
        }
    }

    static int roundUp(int value, int multiple) {
        return (value + multiple - 1) / multiple * multiple;
    }
}
