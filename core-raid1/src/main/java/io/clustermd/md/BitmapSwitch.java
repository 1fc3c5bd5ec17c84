package io.clustermd.md;

import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.bitmap.BitmapSuperblockCodec;
import io.clustermd.md.io.MemberDevices;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code mdadm --grow --bitmap=none|internal|clustered} for an array that no node runs: the
 * superblocks and the bitmap area of every member are rewritten for the new kind.
 * <ul>
 *   <li>to none: the bitmap features go; if any slot had a dirty bit (or a resync was pending), the
 *       array's {@code resync_offset} says "resync everything" so the next start does it;</li>
 *   <li>to internal or clustered: a bitmap of mdadm's geometry (chunk: {@code --bitmap-chunk} or
 *       mdadm's rule; clustered: {@code --nodes} slots, at least two) that must fit between the
 *       bitmap start and the data offset; clean when the array was clean, else slot 0 all dirty, as
 *       {@code create} without {@code --assume-clean}; the bad-block log goes where the bitmap
 *       needs its space (clustermd never records bad blocks, and mdadm keeps none with a clustered
 *       bitmap);</li>
 *   <li>events move on by one, so every member agrees and nothing older can win an assembly.</li>
 * </ul>
 * Every member is checked (same array, current, not in use by a daemon) before anything is written.
 */
public final class BitmapSwitch {

    /** What to switch to; {@code bitmapChunkBytes} 0 = mdadm's rule. */
    public record Options(BitmapKind kind, int nodes, String clusterName, long bitmapChunkBytes, List<Path> members) {
    }

    /** What was done. */
    public record Result(BitmapKind from, BitmapKind to, long bitmapChunkBytes, int slots, boolean resyncNeeded) {
    }

    private BitmapSwitch() {
    }

    /** The kind of bitmap a superblock says the array has. */
    public static BitmapKind kindOf(MdSuperblock sb) {
        if (!sb.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
            return BitmapKind.NONE;
        }
        return sb.hasFeature(MdSuperblock.FEATURE_CLUSTERED) ? BitmapKind.CLUSTERED : BitmapKind.INTERNAL;
    }

    public static Result apply(Options o, InstantSource clock) throws MdFormatException, IOException {
        if (o.members().isEmpty()) {
            throw new MdFormatException("give every member of the array");
        }
        if (o.kind() == BitmapKind.CLUSTERED && o.nodes() < 2) {
            throw new MdFormatException("a clustered bitmap needs at least two node slots (--nodes), got "
                    + o.nodes());
        }
        if (o.kind() == BitmapKind.CLUSTERED && (o.clusterName() == null || o.clusterName().isBlank())) {
            throw new MdFormatException("a clustered bitmap needs the cluster's name: give --home-cluster");
        }
        // 1. Every member: not in use, readable, of one array, current.
        List<MemberMetadata> read = new ArrayList<>();
        for (Path p : o.members()) {
            try {
                MemberDevices.checkNotClaimed(p);
            } catch (IOException e) {
                throw new MdFormatException(e.getMessage() + "; stop the array on every node first (a bitmap is"
                        + " changed only while no node runs the array)");
            }
            MemberMetadata m = MemberMetadataReader.read(p);
            if (m.problem() != null) {
                throw new MdFormatException(m.problem().getMessage());
            }
            read.add(m);
        }
        MdSuperblock first = read.get(0).superblock();
        long events = 0;
        for (MemberMetadata m : read) {
            if (!Arrays.equals(m.superblock().setUuid(), first.setUuid())) {
                throw new MdFormatException(m.device() + " belongs to another array ("
                        + MdSuperblock.mdadmUuid(m.superblock().setUuid()) + ", not "
                        + MdSuperblock.mdadmUuid(first.setUuid()) + ")");
            }
            events = Math.max(events, m.superblock().events());
        }
        MdSuperblock fresh = null;
        for (MemberMetadata m : read) {
            if (m.superblock().events() < events) {
                throw new MdFormatException(m.device() + " is stale (events " + m.superblock().events() + " < "
                        + events + "): leave it out, and re-add it once the array runs");
            }
            fresh = fresh == null ? m.superblock() : fresh;
        }
        if (o.kind() == BitmapKind.CLUSTERED && fresh.level() == 10 && !Raid10Layout.isNear(fresh.layout())) {
            throw new MdFormatException("raid10 layout" + Raid10Layout.describe(fresh.layout()) + " cannot be"
                    + " clustered: only near layout is supported by clustered raid10 (md-cluster)");
        }
        BitmapKind from = kindOf(fresh);
        if (from == o.kind()) {
            throw new MdFormatException("the array already has " + describe(from) + "; nothing to change");
        }
        boolean dirty = fresh.resyncOffset() != MdSuperblock.MAX_SECTOR
                || read.get(0).slots().stream().anyMatch(s -> s.dirty() > 0);

        // 2. The new geometry, checked before anything is written.
        MdSuperblock base = fresh.copy().events(events + 1).utime(clock.instant().getEpochSecond());
        byte[][] slots = new byte[0][];
        long chunk = 0;
        if (o.kind() == BitmapKind.NONE) {
            base.featureMap(base.featureMap() & ~(MdSuperblock.FEATURE_BITMAP_OFFSET | MdSuperblock.FEATURE_CLUSTERED))
                    .bitmapOffset(0);
            if (dirty) {
                base.resyncOffset(0);   // no bits say where: the next start resyncs everything
            }
        } else {
            long component = fresh.size();
            long sync = fresh.level() == 10 ? Raid10Layout.arrayBytes(fresh.layout(), fresh.raidDisks(),
                    fresh.chunkSize() * 512L, component * 512) / 512 : component;
            long min = MdadmGeometry.minimumBitmapChunk(component, sync, o.bitmapChunkBytes() > 0);
            if (min < 0) {
                throw new MdFormatException("the members are too small for a bitmap");
            }
            chunk = o.bitmapChunkBytes() > 0 ? o.bitmapChunkBytes() : MdadmGeometry.defaultBitmapChunk(component, sync);
            if (chunk < min) {
                throw new MdFormatException("--bitmap-chunk " + chunk + " is too small: at least " + min + " bytes");
            }
            long chunks = BitmapGeometry.chunks(sync, (int) chunk);
            long slotBytes = BitmapGeometry.slotBytes(chunks);
            int count = o.kind() == BitmapKind.CLUSTERED ? o.nodes() : 1;
            long start = MdSuperblock.SUPER_OFFSET_1_2 + MdadmGeometry.BITMAP_OFFSET_SECTORS;
            long area = (fresh.dataOffset() - start) * 512;
            if (slotBytes * count > area) {
                throw new MdFormatException(String.format("the bitmap does not fit: %d slot(s) of %d bytes need %d"
                        + " bytes, but only %d lie between the bitmap start and the data offset; use fewer --nodes or a"
                        + " larger --bitmap-chunk", count, slotBytes, slotBytes * count, area));
            }
            base.featureMap(base.featureMap() | MdSuperblock.FEATURE_BITMAP_OFFSET
                            | (o.kind() == BitmapKind.CLUSTERED ? MdSuperblock.FEATURE_CLUSTERED : 0))
                    .bitmapOffset(MdadmGeometry.BITMAP_OFFSET_SECTORS);
            if (fresh.bblogSize() > 0 && MdadmGeometry.BITMAP_OFFSET_SECTORS + slotBytes * count / 512
                    > fresh.bblogOffset()) {
                base.badBlockLog(0, 0);
            }
            boolean clustered = o.kind() == BitmapKind.CLUSTERED;
            BitmapSuperblock bsb = new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC,
                    clustered ? BitmapSuperblock.VERSION_CLUSTERED : BitmapSuperblock.VERSION_PLAIN, fresh.setUuid(),
                    events + 1, events + 1, sync, 0, (int) chunk, 5, 0, 0, clustered ? o.nodes() : 0,
                    clustered ? o.clusterName() : "");
            slots = new byte[count][];
            for (int s = 0; s < count; s++) {
                byte[] image = new byte[(int) slotBytes];
                if (s == 0 && dirty) {
                    Arrays.fill(image, (byte) 0xff);   // everything resynced by the first node to start
                }
                BitmapSuperblockCodec.encode(bsb, ByteBuffer.wrap(image));
                slots[s] = image;
            }
        }

        // 3. Write: each member's own superblock, then the bitmap slots.
        for (MemberMetadata m : read) {
            MdSuperblock own = m.superblock();
            MdSuperblock sb = base.copy().devNumber(own.devNumber()).deviceUuid(own.deviceUuid())
                    .dataOffset(own.dataOffset()).dataSize(own.dataSize()).recoveryOffset(own.recoveryOffset())
                    .featureMap(base.featureMap() | (own.featureMap() & MdSuperblock.FEATURE_RECOVERY_OFFSET));
            ArrayCreator.writeMember(Path.of(m.device()), MdSuperblockCodec.encode(sb), slots);
        }
        return new Result(from, o.kind(), chunk, slots.length, dirty);
    }

    public static String describe(BitmapKind k) {
        return switch (k) {
            case NONE -> "no bitmap";
            case INTERNAL -> "an internal bitmap";
            case CLUSTERED -> "a clustered bitmap";
        };
    }
}
