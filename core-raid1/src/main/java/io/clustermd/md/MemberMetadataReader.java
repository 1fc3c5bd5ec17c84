package io.clustermd.md;

import io.clustermd.bitmap.BitmapBits;
import io.clustermd.bitmap.BitmapFormatException;
import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.bitmap.BitmapSuperblockCodec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a member's metadata read-only: superblock at sector 8 (metadata 1.2) and every bitmap
 * slot. Like mdadm's {@code load_super1}, a superblock with the right magic is decoded even when it
 * fails validation, so {@code examine} can show it; the problem is reported alongside.
 */
public final class MemberMetadataReader {

    /** mdadm refuses devices under 24 sectors ("too small for md"). */
    public static final long MIN_DEVICE_SECTORS = 24;
    /** mdadm's MAX_SB_SIZE: the superblock is read as one 4 KiB block. */
    static final int SUPERBLOCK_READ_BYTES = 4096;

    private MemberMetadataReader() {
    }

    public static MemberMetadata read(Path path) throws IOException, MdFormatException {
        String device = path.toString();
        if (!Files.exists(path)) {
            throw new NoSuchFileException(device, null, "no such file or device");
        }
        if (!Files.isRegularFile(path) && !MemberPaths.isBlockDevice(path)) {
            throw new MdFormatException(device + ": not a regular file or block device");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size / 512 < MIN_DEVICE_SECTORS) {
                throw new NoSuperblockException(String.format(
                        "%s: too small for md: %d bytes, an md member needs at least %d sectors", device, size,
                        MIN_DEVICE_SECTORS));
            }
            long at = MdSuperblock.SUPER_OFFSET_1_2 * 512;
            byte[] raw = readFully(ch, at, (int) Math.min(SUPERBLOCK_READ_BYTES, size - at));
            MdSuperblock sb = MdSuperblockCodec.decode(raw);
            if (sb.magic() != MdSuperblock.MAGIC) {
                throw new NoSuperblockException(String.format(
                        "%s: no md superblock found (magic at byte %d is 0x%08x, expected 0x%08x)", device, at,
                        sb.magic(), MdSuperblock.MAGIC));
            }
            MdFormatException problem = null;
            try {
                MdSuperblockCodec.validate(sb, raw, MdSuperblock.SUPER_OFFSET_1_2, size, device);
            } catch (MdFormatException e) {
                problem = e;
            }
            List<BitmapSlot> slots = new ArrayList<>();
            String bitmapProblem = null;
            if (sb.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
                try {
                    readSlots(ch, size, sb, device, slots);
                } catch (BitmapFormatException e) {
                    bitmapProblem = e.getMessage();
                }
            }
            return new MemberMetadata(device, size, sb, raw, problem, List.copyOf(slots), bitmapProblem);
        }
    }

    private static void readSlots(FileChannel ch, long size, MdSuperblock sb, String device, List<BitmapSlot> out)
            throws IOException, BitmapFormatException {
        long slot0 = (sb.superOffset() + sb.bitmapOffset()) * 512;
        if (slot0 < 0 || slot0 + BitmapGeometry.SUPERBLOCK_BYTES > size) {
            throw new BitmapFormatException(String.format(
                    "%s: bitmap_offset %d points outside the device (byte %d of %d)", device, sb.bitmapOffset(),
                    slot0, size));
        }
        BitmapSuperblock first = BitmapSuperblockCodec.decode(ByteBuffer.wrap(readFully(ch, slot0,
                BitmapGeometry.SUPERBLOCK_BYTES)));
        long chunks = first.chunkSize() > 0 ? first.chunks() : 0;
        int slotCount = first.version() == BitmapSuperblock.VERSION_CLUSTERED && first.nodes() > 0
                ? first.nodes() : 1;
        if (first.magic() == BitmapSuperblockCodec.BITMAP_MAGIC && slotCount > 4096) {
            throw new BitmapFormatException(device + ": bitmap nodes is " + slotCount + ", expected at most 4096");
        }
        long slotBytes = BitmapGeometry.slotBytes(chunks);
        for (int i = 0; i < slotCount; i++) {
            long offset = slot0 + i * slotBytes;
            if (offset + BitmapGeometry.SUPERBLOCK_BYTES > size) {
                out.add(new BitmapSlot(i, offset, first, chunks, 0,
                        device + ": bitmap slot " + i + " lies beyond the end of the device"));
                continue;
            }
            BitmapSuperblock slotSb = i == 0 ? first : BitmapSuperblockCodec.decode(
                    ByteBuffer.wrap(readFully(ch, offset, BitmapGeometry.SUPERBLOCK_BYTES)));
            String problem = null;
            try {
                BitmapSuperblockCodec.validate(slotSb, sb.setUuid(), device + ": bitmap slot " + i);
            } catch (BitmapFormatException e) {
                problem = e.getMessage();
            }
            long bitBytes = Math.min(BitmapGeometry.bitBytes(chunks), size - offset - BitmapGeometry.SUPERBLOCK_BYTES);
            long dirty = 0;
            if (bitBytes > 0 && bitBytes <= Integer.MAX_VALUE) {
                ByteBuffer bits = ByteBuffer.wrap(readFully(ch, offset + BitmapGeometry.SUPERBLOCK_BYTES,
                        (int) bitBytes));
                dirty = BitmapBits.countDirty(bits, Math.min(chunks, bitBytes * 8));
            }
            out.add(new BitmapSlot(i, offset, slotSb, chunks, dirty, problem));
        }
    }

    static byte[] readFully(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(Math.max(length, 0));
        while (buf.hasRemaining()) {
            int n = ch.read(buf, position + buf.position());
            if (n < 0) {
                break;
            }
        }
        byte[] out = new byte[buf.position()];
        buf.flip().get(out);
        return out;
    }
}
