package io.clustermd.md;

import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.bitmap.BitmapSuperblockCodec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * Creates a new array on its members the way {@code mdadm --create} does (Create.c,
 * super1.c {@code init_super1}/{@code write_init_super1}/{@code write_bitmap1}), with mdadm's
 * defaults. Every member passes every check before the first byte is written to any of them.
 */
public final class ArrayCreator {

    private final InstantSource clock;
    private final RandomGenerator random;

    public ArrayCreator(InstantSource clock, RandomGenerator random) {
        this.clock = clock;
        this.random = random;
    }

    /** Per-member facts gathered read-only before anything is planned. */
    private record Probe(Path path, long sectors) {
    }

    /** Validates, plans and writes. Throws before writing anything if any check fails. */
    public CreatedArray create(CreateOptions o) throws MdFormatException, IOException {
        checkOptions(o);
        List<Probe> probes = probeMembers(o);
        List<String> warnings = new ArrayList<>();

        // Geometry: data offset from the first member (mdadm: "use as default for whole array").
        long dataOffset = o.dataOffsetSectors() > 0 ? o.dataOffsetSectors()
                : MdadmGeometry.defaultDataOffset(probes.get(0).sectors(), o.level() == 10 ? o.chunkKiB() : 0);
        long minFreeKiB = Long.MAX_VALUE;
        long maxFreeKiB = 0;
        String largest = null;
        for (Probe p : probes) {
            long freeSectors = p.sectors() - dataOffset;
            long needed = dataOffset + 8;
            if (freeSectors <= 0 || p.sectors() < needed) {
                throw new MdFormatException(String.format(
                        "%s: too small: %d sectors, needs more than data offset %d sectors plus data", p.path(),
                        p.sectors(), dataOffset));
            }
            long freeKiB = freeSectors / 2;
            if (o.level() == 10) {
                freeKiB &= ~((long) o.chunkKiB() - 1);
            }
            if (freeKiB == 0) {
                throw new MdFormatException(p.path() + ": no free space left after the metadata (data offset "
                        + dataOffset + " sectors); use a larger member");
            }
            if (o.sizeKiB() > 0 && freeKiB < o.sizeKiB()) {
                throw new MdFormatException(String.format(
                        "%s: too small for --size: %d KiB available, %d KiB requested", p.path(), freeKiB,
                        o.sizeKiB()));
            }
            if (freeKiB < minFreeKiB) {
                minFreeKiB = freeKiB;
            }
            if (freeKiB > maxFreeKiB) {
                maxFreeKiB = freeKiB;
                largest = p.path().toString();
            }
        }
        long sizeKiB = o.sizeKiB();
        if (sizeKiB == 0) {
            sizeKiB = minFreeKiB;
            if (o.level() == 1) {
                sizeKiB &= ~63L; // mdadm rounds raid1 to 64 KiB so a later reshape to raid5 has a chunk
            }
        }
        if (sizeKiB < 64) {
            throw new MdFormatException("array members would hold only " + sizeKiB
                    + " KiB of data each; use members of at least 2 MiB");
        }
        if ((maxFreeKiB - sizeKiB) * 100 > maxFreeKiB) {
            warnings.add(String.format("largest drive (%s) exceeds size (%dK) by more than 1%%", largest, sizeKiB));
        }
        long componentSectors = sizeKiB * 2;
        if (o.level() == 10) {
            // What the kernel writes when it first runs the array (raid10_run: dev_sectors after
            // calc_sectors), so the superblocks read the same before and after: far layouts round down.
            componentSectors = Raid10Layout.usedComponentBytes(o.layout(), o.raidDevices(), o.chunkKiB() * 1024L,
                    componentSectors * 512) / 512;
        }
        // raid10: md's raid10_size, which is also the bitmap's sync_size (resync_max_sectors).
        long arraySectors = o.level() == 10
                ? Raid10Layout.arrayBytes(o.layout(), o.raidDevices(), o.chunkKiB() * 1024L, componentSectors * 512) / 512
                : componentSectors;
        long syncSectors = arraySectors;

        // Bitmap geometry and the slot-area check mdadm leaves out at create time.
        long bitmapChunk = 0;
        long slotBytes = 0;
        int slots = 0;
        if (o.bitmap() != BitmapKind.NONE) {
            long minChunk = MdadmGeometry.minimumBitmapChunk(componentSectors, syncSectors, o.bitmapChunkBytes() > 0);
            if (minChunk < 0) {
                throw new MdFormatException("members are too small for a bitmap; use --bitmap=none");
            }
            if (o.bitmapChunkBytes() > 0) {
                if (o.bitmapChunkBytes() < minChunk) {
                    throw new MdFormatException(String.format(
                            "--bitmap-chunk %s is too small for %d KiB per member: the bitmap would not fit the"
                                    + " space mdadm reserves; use at least %s", human(o.bitmapChunkBytes()), sizeKiB,
                            human(minChunk)));
                }
                bitmapChunk = o.bitmapChunkBytes();
            } else {
                bitmapChunk = MdadmGeometry.defaultBitmapChunk(componentSectors, syncSectors);
            }
            long chunks = BitmapGeometry.chunks(syncSectors, (int) bitmapChunk);
            slotBytes = BitmapGeometry.slotBytes(chunks);
            slots = o.bitmap() == BitmapKind.CLUSTERED ? o.nodes() : 1;
            long area = (dataOffset - MdSuperblock.SUPER_OFFSET_1_2 - MdadmGeometry.BITMAP_OFFSET_SECTORS) * 512;
            if (slotBytes * slots > area) {
                throw new MdFormatException(String.format(
                        "the bitmap does not fit: %d slot(s) of %d bytes need %d bytes, but only %d bytes lie"
                                + " between the bitmap start (sector %d) and the data offset (sector %d); use fewer"
                                + " --nodes, a larger --bitmap-chunk or a larger --data-offset",
                        slots, slotBytes, slotBytes * slots, area,
                        MdSuperblock.SUPER_OFFSET_1_2 + MdadmGeometry.BITMAP_OFFSET_SECTORS, dataOffset));
            }
        }

        // Superblock common to all members (init_super1).
        byte[] uuid = randomUuid();
        long now = clock.instant().getEpochSecond();
        MdSuperblock base = new MdSuperblock()
                .setUuid(uuid)
                .name(setName(o.name(), o.homehost()))
                .ctime(now)
                .utime(now)
                .level(o.level())
                .layout(o.level() == 10 ? o.layout() : 0)
                .size(componentSectors)
                .chunkSize(o.level() == 10 ? o.chunkKiB() * 2 : 0)
                .raidDisks(o.raidDevices())
                .superOffset(MdSuperblock.SUPER_OFFSET_1_2)
                .dataOffset(dataOffset)
                .events(0)
                .resyncOffset(o.assumeClean() ? MdSuperblock.MAX_SECTOR : 0);
        int maxDev = MdadmGeometry.maxDevFor(o.raidDevices());
        int[] roles = new int[maxDev];
        Arrays.fill(roles, MdSuperblock.ROLE_SPARE);
        for (int i = 0; i < o.raidDevices(); i++) {
            roles[i] = i;
        }
        base.devRoles(roles);
        BitmapSuperblock bitmapSb = null;
        if (o.bitmap() != BitmapKind.NONE) {
            boolean clustered = o.bitmap() == BitmapKind.CLUSTERED;
            base.bitmapOffset(MdadmGeometry.BITMAP_OFFSET_SECTORS)
                    .featureMap(MdSuperblock.FEATURE_BITMAP_OFFSET | (clustered ? MdSuperblock.FEATURE_CLUSTERED : 0));
            bitmapSb = new BitmapSuperblock(BitmapSuperblockCodec.BITMAP_MAGIC,
                    clustered ? BitmapSuperblock.VERSION_CLUSTERED : BitmapSuperblock.VERSION_PLAIN, uuid, 0, 0,
                    syncSectors, 0, (int) bitmapChunk, o.daemonSleepSeconds(), 0, 0, clustered ? o.nodes() : 0,
                    clustered ? o.homeCluster() : "");
        }

        // Per member (write_init_super1): dev_number, device uuid, data_size, bad-block log.
        List<byte[]> superblocks = new ArrayList<>();
        for (int i = 0; i < probes.size(); i++) {
            MdSuperblock sb = base.copy().devNumber(i).deviceUuid(randomUuid())
                    .dataSize(probes.get(i).sectors() - dataOffset);
            if (o.bitmap() != BitmapKind.CLUSTERED) {
                long bmSpace = o.bitmap() == BitmapKind.INTERNAL ? slotBytes / 512
                        : MdadmGeometry.chooseBitmapSpace(componentSectors);
                long bmOffset = MdadmGeometry.BITMAP_OFFSET_SECTORS;
                if (dataOffset >= MdSuperblock.SUPER_OFFSET_1_2 + bmOffset + bmSpace + 8) {
                    sb.badBlockLog(8, (int) (bmOffset + bmSpace));
                } else if (dataOffset >= MdSuperblock.SUPER_OFFSET_1_2 + 16) {
                    sb.badBlockLog(8, (int) (dataOffset - 8 - MdSuperblock.SUPER_OFFSET_1_2));
                }
            }
            superblocks.add(MdSuperblockCodec.encode(sb));
        }
        byte[][] slotImages = new byte[slots][];
        for (int s = 0; s < slots; s++) {
            byte[] image = new byte[(int) slotBytes];
            if (s == 0 && !o.assumeClean()) {
                Arrays.fill(image, (byte) 0xff); // slot 0 all dirty: the first node resyncs everything
            }
            BitmapSuperblockCodec.encode(bitmapSb, ByteBuffer.wrap(image));
            slotImages[s] = image;
        }

        // Everything checked: now write.
        for (int i = 0; i < probes.size(); i++) {
            writeMember(probes.get(i).path(), superblocks.get(i), slotImages);
        }
        return new CreatedArray(MdSuperblock.mdadmUuid(uuid), base.name(), componentSectors, arraySectors,
                dataOffset, bitmapChunk, List.copyOf(warnings));
    }

    /** Writes a member's superblock and the bitmap slots after it, durably. */
    static void writeMember(Path path, byte[] superblock, byte[][] slots) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
            writeFully(ch, ByteBuffer.wrap(superblock), MdSuperblock.SUPER_OFFSET_1_2 * 512);
            long at = (MdSuperblock.SUPER_OFFSET_1_2 + MdadmGeometry.BITMAP_OFFSET_SECTORS) * 512;
            for (byte[] slot : slots) {
                writeFully(ch, ByteBuffer.wrap(slot), at);
                at += slot.length;
            }
            ch.force(true);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long p = position;
        while (buf.hasRemaining()) {
            p += ch.write(buf, p);
        }
    }

    static void checkOptions(CreateOptions o) throws MdFormatException {
        if (o.level() != 1 && o.level() != 10) {
            throw new MdFormatException("--level=" + o.level() + " is not supported: clustermd builds raid1 and raid10");
        }
        if (o.raidDevices() < 1) {
            throw new MdFormatException("--raid-devices must be at least 1 (was " + o.raidDevices() + ")");
        }
        if (o.raidDevices() > 256) {
            throw new MdFormatException("--raid-devices=" + o.raidDevices() + " is more than clustermd supports (256)");
        }
        if (o.raidDevices() == 1 && !o.force()) {
            throw new MdFormatException("'1' is an unusual number of drives for an array, so it is probably a"
                    + " mistake; if you really mean it, add --force");
        }
        if (o.members().size() > o.raidDevices()) {
            throw new MdFormatException(String.format("you have listed more devices (%d) than are in the array (%d)",
                    o.members().size(), o.raidDevices()));
        }
        if (o.members().size() < o.raidDevices()) {
            throw new MdFormatException(String.format(
                    "you haven't given enough devices to create this array: %d listed, --raid-devices=%d",
                    o.members().size(), o.raidDevices()));
        }
        if (o.level() == 1 && o.chunkKiB() != 0) {
            throw new MdFormatException("specifying a chunk size is forbidden for raid1");
        }
        if (o.level() == 10) {
            if (Raid10Layout.copies(o.layout()) > o.raidDevices()) {
                throw new MdFormatException(String.format("that layout requires at least %d devices",
                        Raid10Layout.copies(o.layout())));
            }
            String problem = Raid10Layout.check(o.layout(), o.raidDevices());
            if (problem != null) {
                throw new MdFormatException(problem + "; use n2, f2 or o2 (or more copies)");
            }
            if (o.bitmap() == BitmapKind.CLUSTERED && !Raid10Layout.isNear(o.layout())) {
                throw new MdFormatException("raid10 layout" + Raid10Layout.describe(o.layout()) + " cannot be"
                        + " clustered: only near layout is supported by clustered raid10 (md-cluster); use"
                        + " --layout=n2 or --bitmap=internal");
            }
            int chunk = o.chunkKiB();
            if (chunk < 4 || Integer.bitCount(chunk) != 1) {
                throw new MdFormatException("--chunk=" + chunk + "K must be a power of two of at least 4K");
            }
        }
        if (o.bitmap() == BitmapKind.CLUSTERED) {
            if (o.nodes() < 2) {
                throw new MdFormatException("a clustered array needs at least two nodes (--nodes=" + o.nodes() + ")");
            }
            if (o.nodes() > 1024) {
                throw new MdFormatException("--nodes=" + o.nodes() + " is more than clustermd supports (1024)");
            }
            if (o.homeCluster() == null || o.homeCluster().isEmpty()) {
                throw new MdFormatException("a clustered bitmap needs --home-cluster=NAME (the corosync/DLM cluster"
                        + " name; any name for a ZooKeeper cluster)");
            }
            if (o.homeCluster().getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                    > BitmapSuperblock.MAX_CLUSTER_NAME) {
                throw new MdFormatException("--home-cluster is longer than " + BitmapSuperblock.MAX_CLUSTER_NAME
                        + " bytes");
            }
        }
        if (o.bitmapChunkBytes() != 0 && (o.bitmapChunkBytes() < MdadmGeometry.MIN_BITMAP_CHUNK_BYTES
                || Long.bitCount(o.bitmapChunkBytes()) != 1 || o.bitmapChunkBytes() > (1L << 30))) {
            throw new MdFormatException("--bitmap-chunk must be a power of two from 4K to 1G (was "
                    + human(o.bitmapChunkBytes()) + ")");
        }
        if (o.bitmap() == BitmapKind.NONE && o.bitmapChunkBytes() != 0) {
            throw new MdFormatException("--bitmap-chunk needs a bitmap (--bitmap=clustered or internal)");
        }
        if (o.sizeKiB() < 0 || o.sizeKiB() % 4 != 0) {
            throw new MdFormatException("--size must be a multiple of 4K (was " + o.sizeKiB() + "K)");
        }
        if (o.level() == 10 && o.sizeKiB() % o.chunkKiB() != 0) {
            throw new MdFormatException("--size must be a multiple of the chunk size (" + o.chunkKiB() + "K)");
        }
        if (o.name().isEmpty()) {
            throw new MdFormatException("the array needs a name: --name=NAME");
        }
        if (o.name().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 32) {
            throw new MdFormatException("--name is longer than 32 bytes");
        }
        if (o.daemonSleepSeconds() < 1 || o.daemonSleepSeconds() > 3600) {
            throw new MdFormatException("bitmap daemon period must be 1 to 3600 seconds");
        }
        if (o.dataOffsetSectors() < 0 || o.dataOffsetSectors() % 8 != 0) {
            throw new MdFormatException("--data-offset must be a multiple of 4K");
        }
        if (o.dataOffsetSectors() > 0 && o.dataOffsetSectors() < MdSuperblock.SUPER_OFFSET_1_2 + 8) {
            throw new MdFormatException("--data-offset must leave room for the superblock (at least 8K)");
        }
    }

    /** Read-only checks on every member: type, access, duplicates, size, existing metadata. */
    private static List<Probe> probeMembers(CreateOptions o) throws MdFormatException, IOException {
        List<Probe> probes = new ArrayList<>();
        Map<Object, Path> seen = new HashMap<>();
        for (Path path : o.members()) {
            try {
                io.clustermd.md.io.MemberDevices.check(path, false); // type, access, read-only, empty
                io.clustermd.md.io.MemberDevices.checkNotClaimed(path); // not served by a running daemon
            } catch (IOException e) {
                throw new MdFormatException(e.getMessage(), e);
            }
            Object id = MemberPaths.identity(path);
            Path earlier = seen.putIfAbsent(id, path);
            if (earlier != null) {
                throw new MdFormatException(path + ": given twice (same file or device as " + earlier + ")");
            }
            long bytes;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                bytes = ch.size();
                String existing = existingMetadata(ch, bytes);
                if (existing != null && !o.force()) {
                    throw new MdFormatException(path + ": " + existing + "; it may belong to another array"
                            + " (see 'clusterctl examine " + path + "'); add --force to overwrite it");
                }
            }
            if (bytes / 512 < MemberMetadataReader.MIN_DEVICE_SECTORS) {
                throw new MdFormatException(String.format("%s: too small: %d bytes; a member needs at least 2 MiB",
                        path, bytes));
            }
            probes.add(new Probe(path, bytes / 512));
        }
        return probes;
    }

    /** Describes an md superblock at any of the 1.0/1.1/1.2 locations, or returns null. */
    private static String existingMetadata(FileChannel ch, long bytes) throws IOException {
        long[] offsets = {MdSuperblock.SUPER_OFFSET_1_2 * 512, 0, ((bytes / 512 - 16) & ~7L) * 512};
        String[] names = {"1.2", "1.1", "1.0"};
        for (int i = 0; i < offsets.length; i++) {
            long at = offsets[i];
            if (at < 0 || at + MdSuperblockCodec.FIXED_BYTES > bytes) {
                continue;
            }
            byte[] raw = MemberMetadataReader.readFully(ch, at, MdSuperblockCodec.FIXED_BYTES);
            MdSuperblock sb = MdSuperblockCodec.decode(raw);
            if (sb.magic() == MdSuperblock.MAGIC) {
                return String.format("already carries an md %s superblock (array %s, name '%s')", names[i],
                        MdSuperblock.mdadmUuid(sb.setUuid()), sb.name());
            }
        }
        return null;
    }

    /** mdadm's set_name: "homehost:name" when it fits in 31 bytes and name has no ':'. */
    static String setName(String name, String homehost) {
        if (!homehost.isEmpty() && name.indexOf(':') < 0 && homehost.length() + 1 + name.length() < 32) {
            return homehost + ":" + name;
        }
        return name.length() > 31 ? name.substring(0, 31) : name;
    }

    private byte[] randomUuid() {
        byte[] uuid = new byte[16];
        random.nextBytes(uuid);
        return uuid;
    }

    static String human(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "G";
        }
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "M";
        }
        if (bytes % 1024 == 0) {
            return (bytes >> 10) + "K";
        }
        return bytes + "B";
    }
}
