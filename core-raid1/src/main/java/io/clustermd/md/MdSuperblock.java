package io.clustermd.md;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Linux md's version-1 superblock, {@code struct mdp_superblock_1} (include/uapi/linux/raid/md_p.h):
 * the 256-byte fixed part plus {@code dev_roles[max_dev]}. Mutable like the kernel's in-memory copy;
 * {@link MdSuperblockCodec} turns it into the exact on-disk bytes. Integer fields hold the raw
 * unsigned bit patterns (use {@link Integer#toUnsignedLong} where a field is unsigned).
 */
public final class MdSuperblock {

    /** {@code MD_SB_MAGIC}. */
    public static final int MAGIC = 0xa92b4efc;
    /** {@code resync_offset} of a clean array ({@code MaxSector}). */
    public static final long MAX_SECTOR = -1L;
    /** Superblock location of metadata 1.2: sector 8 (4 KiB from the start). */
    public static final long SUPER_OFFSET_1_2 = 8;
    /** Kernel limit on {@code max_dev}: {@code (4096 - 256) / 2}. */
    public static final int MAX_DEV_LIMIT = 1920;

    /** {@code dev_roles[]} value of a spare ({@code MD_DISK_ROLE_SPARE}). */
    public static final int ROLE_SPARE = 0xffff;
    /** {@code MD_DISK_ROLE_FAULTY}. */
    public static final int ROLE_FAULTY = 0xfffe;
    /** {@code MD_DISK_ROLE_JOURNAL}. */
    public static final int ROLE_JOURNAL = 0xfffd;
    /** {@code MD_DISK_ROLE_MAX}: roles at or above this are not an active slot. */
    public static final int ROLE_MAX = 0xff00;

    // feature_map bits (md_p.h).
    public static final int FEATURE_BITMAP_OFFSET = 1;
    public static final int FEATURE_RECOVERY_OFFSET = 2;
    public static final int FEATURE_RESHAPE_ACTIVE = 4;
    public static final int FEATURE_BAD_BLOCKS = 8;
    public static final int FEATURE_REPLACEMENT = 16;
    public static final int FEATURE_RESHAPE_BACKWARDS = 32;
    public static final int FEATURE_NEW_OFFSET = 64;
    public static final int FEATURE_RECOVERY_BITMAP = 128;
    public static final int FEATURE_CLUSTERED = 256;
    public static final int FEATURE_JOURNAL = 512;
    public static final int FEATURE_PPL = 1024;
    public static final int FEATURE_MULTIPLE_PPLS = 2048;
    public static final int FEATURE_RAID0_LAYOUT = 4096;
    /** {@code MD_FEATURE_ALL}: every bit the kernel knows; any other bit makes it refuse the member. */
    public static final int FEATURE_ALL = 0x1fff;

    /** devflags bit {@code WriteMostly1}. */
    public static final int DEVFLAG_WRITE_MOSTLY = 1;
    /** devflags bit {@code FailFast1}. */
    public static final int DEVFLAG_FAIL_FAST = 2;

    int magic = MAGIC;
    int majorVersion = 1;
    int featureMap;
    int pad0;
    byte[] setUuid = new byte[16];
    byte[] setName = new byte[32];
    long ctime;
    int level;
    int layout;
    long size;
    int chunkSize;
    int raidDisks;
    int bitmapOffset;
    int newLevel;
    long reshapePosition;
    int deltaDisks;
    int newLayout;
    int newChunk;
    int newOffset;
    long dataOffset;
    long dataSize;
    long superOffset;
    long recoveryOffset;
    int devNumber;
    int cntCorrectedRead;
    byte[] deviceUuid = new byte[16];
    int devFlags;
    int bblogShift;
    int bblogSize;
    int bblogOffset;
    long utime;
    long events;
    long resyncOffset;
    int sbCsum;
    int maxDev;
    int logicalBlockSize;
    byte[] pad3 = new byte[28];
    int[] devRoles = new int[0];

    public MdSuperblock copy() {
        MdSuperblock c = new MdSuperblock();
        c.magic = magic;
        c.majorVersion = majorVersion;
        c.featureMap = featureMap;
        c.pad0 = pad0;
        c.setUuid = setUuid.clone();
        c.setName = setName.clone();
        c.ctime = ctime;
        c.level = level;
        c.layout = layout;
        c.size = size;
        c.chunkSize = chunkSize;
        c.raidDisks = raidDisks;
        c.bitmapOffset = bitmapOffset;
        c.newLevel = newLevel;
        c.reshapePosition = reshapePosition;
        c.deltaDisks = deltaDisks;
        c.newLayout = newLayout;
        c.newChunk = newChunk;
        c.newOffset = newOffset;
        c.dataOffset = dataOffset;
        c.dataSize = dataSize;
        c.superOffset = superOffset;
        c.recoveryOffset = recoveryOffset;
        c.devNumber = devNumber;
        c.cntCorrectedRead = cntCorrectedRead;
        c.deviceUuid = deviceUuid.clone();
        c.devFlags = devFlags;
        c.bblogShift = bblogShift;
        c.bblogSize = bblogSize;
        c.bblogOffset = bblogOffset;
        c.utime = utime;
        c.events = events;
        c.resyncOffset = resyncOffset;
        c.sbCsum = sbCsum;
        c.maxDev = maxDev;
        c.logicalBlockSize = logicalBlockSize;
        c.pad3 = pad3.clone();
        c.devRoles = devRoles.clone();
        return c;
    }

    // ---- accessors (md field names in the Javadoc of MdSuperblockCodec's offsets) ----

    public int magic() { return magic; }
    public int majorVersion() { return majorVersion; }
    public int featureMap() { return featureMap; }
    public MdSuperblock featureMap(int v) { featureMap = v; return this; }
    public boolean hasFeature(int bit) { return (featureMap & bit) != 0; }
    public byte[] setUuid() { return setUuid.clone(); }
    public MdSuperblock setUuid(byte[] v) { setUuid = checkLength(v, 16, "set_uuid"); return this; }
    /** {@code set_name} bytes up to the first NUL. */
    public String name() { return cString(setName); }
    public byte[] setNameBytes() { return setName.clone(); }
    public MdSuperblock name(String v) {
        byte[] raw = v.getBytes(StandardCharsets.UTF_8);
        if (raw.length > 32) {
            throw new IllegalArgumentException("set_name holds at most 32 bytes: '" + v + "'");
        }
        setName = Arrays.copyOf(raw, 32);
        return this;
    }
    public long ctime() { return ctime; }
    public MdSuperblock ctime(long v) { ctime = v; return this; }
    public int level() { return level; }
    public MdSuperblock level(int v) { level = v; return this; }
    public int layout() { return layout; }
    public MdSuperblock layout(int v) { layout = v; return this; }
    /** Used size of each member in sectors ({@code size}, md's dev_sectors). */
    public long size() { return size; }
    public MdSuperblock size(long v) { size = v; return this; }
    /** Chunk size in sectors. */
    public int chunkSize() { return chunkSize; }
    public MdSuperblock chunkSize(int v) { chunkSize = v; return this; }
    public int raidDisks() { return raidDisks; }
    public MdSuperblock raidDisks(int v) { raidDisks = v; return this; }
    /** Signed sectors from the superblock to bitmap slot 0. */
    public int bitmapOffset() { return bitmapOffset; }
    public MdSuperblock bitmapOffset(int v) { bitmapOffset = v; return this; }
    public int newLevel() { return newLevel; }
    public long reshapePosition() { return reshapePosition; }
    public int deltaDisks() { return deltaDisks; }
    public int newLayout() { return newLayout; }
    public int newChunk() { return newChunk; }
    public int newOffset() { return newOffset; }
    public long dataOffset() { return dataOffset; }
    public MdSuperblock dataOffset(long v) { dataOffset = v; return this; }
    public long dataSize() { return dataSize; }
    public MdSuperblock dataSize(long v) { dataSize = v; return this; }
    public long superOffset() { return superOffset; }
    public MdSuperblock superOffset(long v) { superOffset = v; return this; }
    public long recoveryOffset() { return recoveryOffset; }
    public MdSuperblock recoveryOffset(long v) { recoveryOffset = v; return this; }
    public int devNumber() { return devNumber; }
    public MdSuperblock devNumber(int v) { devNumber = v; return this; }
    public int cntCorrectedRead() { return cntCorrectedRead; }
    public byte[] deviceUuid() { return deviceUuid.clone(); }
    public MdSuperblock deviceUuid(byte[] v) { deviceUuid = checkLength(v, 16, "device_uuid"); return this; }
    public int devFlags() { return devFlags; }
    public MdSuperblock devFlags(int v) { devFlags = v; return this; }
    public int bblogShift() { return bblogShift; }
    public int bblogSize() { return bblogSize; }
    public int bblogOffset() { return bblogOffset; }
    public MdSuperblock badBlockLog(int sizeSectors, int offsetSectors) {
        bblogSize = sizeSectors;
        bblogOffset = offsetSectors;
        return this;
    }
    public long utime() { return utime; }
    public MdSuperblock utime(long v) { utime = v; return this; }
    public long events() { return events; }
    public MdSuperblock events(long v) { events = v; return this; }
    public long resyncOffset() { return resyncOffset; }
    public MdSuperblock resyncOffset(long v) { resyncOffset = v; return this; }
    /** The checksum as stored; {@link MdSuperblockCodec#checksum} computes the right one. */
    public int sbCsum() { return sbCsum; }
    public int maxDev() { return maxDev; }
    public int logicalBlockSize() { return logicalBlockSize; }
    public int pad0() { return pad0; }
    public byte[] pad3() { return pad3.clone(); }

    /** {@code dev_roles[i]} as an unsigned 16-bit value. */
    public int devRole(int index) { return devRoles[index]; }
    public int[] devRoles() { return devRoles.clone(); }

    /** Replaces {@code dev_roles} and sets {@code max_dev} to its length. */
    public MdSuperblock devRoles(int[] roles) {
        if (roles.length > MAX_DEV_LIMIT) {
            throw new IllegalArgumentException("max_dev " + roles.length + " exceeds " + MAX_DEV_LIMIT);
        }
        devRoles = roles.clone();
        maxDev = roles.length;
        return this;
    }

    public MdSuperblock devRole(int index, int role) {
        devRoles[index] = role & 0xffff;
        return this;
    }

    /** This member's role ({@code dev_roles[dev_number]}), FAULTY if dev_number is out of range (as mdadm). */
    public int ownRole() {
        return devNumber >= 0 && devNumber < devRoles.length ? devRoles[devNumber] : ROLE_FAULTY;
    }

    /** Bytes of the superblock proper: {@code 256 + 2 * max_dev}. */
    public int coveredBytes() {
        return MdSuperblockCodec.FIXED_BYTES + 2 * maxDev;
    }

    /** "xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx" as mdadm prints UUIDs (raw byte order). */
    public static String mdadmUuid(byte[] uuid) {
        String hex = HexFormat.of().formatHex(uuid);
        return hex.substring(0, 8) + ":" + hex.substring(8, 16) + ":" + hex.substring(16, 24) + ":"
                + hex.substring(24, 32);
    }

    private static byte[] checkLength(byte[] v, int len, String field) {
        if (v.length != len) {
            throw new IllegalArgumentException(field + " must be " + len + " bytes (was " + v.length + ")");
        }
        return v.clone();
    }

    static String cString(byte[] bytes) {
        int len = 0;
        while (len < bytes.length && bytes[len] != 0) {
            len++;
        }
        return new String(bytes, 0, len, StandardCharsets.UTF_8);
    }
}
