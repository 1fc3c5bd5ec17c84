package io.clustermd.cmd;

import io.clustermd.bitmap.BitmapGeometry;
import io.clustermd.bitmap.BitmapSuperblock;
import io.clustermd.md.BitmapSlot;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MdSuperblockCodec;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.Raid10Layout;

import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code mdadm --examine} (super1.c {@code examine_super1}) and {@code mdadm --examine-bitmap}
 * (bitmap.c {@code ExamineBitmap}) print for a member, line for line, and the same facts as JSON.
 */
final class ExamineReport {

    private ExamineReport() {
    }

    // ------------------------------------------------------------------ examine

    static List<String> examine(MemberMetadata m, String homehost, ZoneId zone) {
        MdSuperblock sb = m.superblock();
        List<String> out = new ArrayList<>();
        int featureMap = sb.featureMap();
        out.add(m.device() + ":");
        out.add(String.format("          Magic : %08x", sb.magic()));
        long superOffset = sb.superOffset();
        out.add("        Version : 1" + (superOffset <= 4 ? ".1" : superOffset <= 8 ? ".2" : ".0"));
        out.add(String.format("    Feature Map : 0x%x", featureMap));
        out.add("     Array UUID : " + MdSuperblock.mdadmUuid(sb.setUuid()));
        String name = sb.name();
        String local = "";
        int l = homehost == null ? 0 : homehost.length();
        if (l > 0 && l < 32 && name.length() > l && name.charAt(l) == ':' && name.startsWith(homehost)) {
            local = "  (local to host " + homehost + ")";
        }
        out.add("           Name : " + name + local);
        BitmapSuperblock bms = m.bitmap();
        if (bms != null && bms.nodes() > 0 && sb.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
            out.add("   Cluster Name : " + MdadmText.padRight64(bms.clusterName()));
        }
        out.add("  Creation Time : " + MdadmText.ctime(sb.ctime(), zone));
        out.add("     Raid Level : " + MdadmText.levelName(sb.level()));
        out.add("   Raid Devices : " + sb.raidDisks());
        out.add("");
        out.add(String.format(" Avail Dev Size : %d sectors%s", sb.dataSize(), MdadmText.humanSize(sb.dataSize() << 9)));
        if (sb.level() > 0) {
            long arrayBytes = arrayBytes(sb);
            if (arrayBytes >= 0) {
                out.add(String.format("     Array Size : %d KiB%s", arrayBytes >> 10, MdadmText.humanSize(arrayBytes)));
            }
            if (sb.size() != sb.dataSize()) {
                out.add(String.format("  Used Dev Size : %d sectors%s", sb.size(), MdadmText.humanSize(sb.size() << 9)));
            }
        }
        if (sb.dataOffset() != 0) {
            out.add(String.format("    Data Offset : %d sectors", sb.dataOffset()));
        }
        if (sb.newOffset() != 0 && (featureMap & MdSuperblock.FEATURE_NEW_OFFSET) != 0) {
            out.add(String.format("     New Offset : %d sectors", sb.dataOffset() + sb.newOffset()));
        }
        out.add(String.format("   Super Offset : %d sectors", superOffset));
        if ((featureMap & MdSuperblock.FEATURE_RECOVERY_OFFSET) != 0) {
            out.add(String.format("Recovery Offset : %d sectors", sb.recoveryOffset()));
        }
        long[] space = unusedSpace(sb, bms, m.deviceBytes());
        if (space[1] != 1 && (featureMap & MdSuperblock.FEATURE_NEW_OFFSET) == 0) {
            if (space[1] >= 0) {
                out.add(String.format("   Unused Space : before=%d sectors, after=%d sectors", space[0], space[1]));
            } else {
                out.add(String.format("   Unused Space : before=%d sectors, after=-%d sectors DEVICE TOO SMALL",
                        space[0], -space[1] - 1));
            }
        }
        out.add("          State : " + (sb.resyncOffset() + 1 != 0 ? "active" : "clean")
                + (space[1] < 0 ? " TRUNCATED DEVICE" : ""));
        out.add("    Device UUID : " + MdSuperblock.mdadmUuid(sb.deviceUuid()));
        out.add("");
        if ((featureMap & MdSuperblock.FEATURE_BITMAP_OFFSET) != 0) {
            out.add(String.format("Internal Bitmap : %d sectors from superblock", sb.bitmapOffset()));
        }
        if ((featureMap & MdSuperblock.FEATURE_RESHAPE_ACTIVE) != 0) {
            out.add(String.format("  Reshape pos'n : %d%s", sb.reshapePosition() / 2,
                    MdadmText.humanSize(sb.reshapePosition() << 9)));
            if (sb.deltaDisks() != 0) {
                out.add(String.format("  Delta Devices : %d (%d->%d)", sb.deltaDisks(),
                        sb.raidDisks() - sb.deltaDisks(), sb.raidDisks()));
            }
            if (sb.newLevel() != sb.level()) {
                out.add("      New Level : " + MdadmText.levelName(sb.newLevel()));
            }
            if (sb.newLayout() != sb.layout() && sb.level() == 10) {
                out.add("     New Layout :" + Raid10Layout.describe(sb.newLayout()));
            }
            if (sb.newChunk() != sb.chunkSize()) {
                out.add(String.format("  New Chunksize : %dK", sb.newChunk() / 2));
            }
            out.add("");
        }
        if (sb.devFlags() != 0) {
            out.add("          Flags :" + ((sb.devFlags() & MdSuperblock.DEVFLAG_WRITE_MOSTLY) != 0 ? " write-mostly" : "")
                    + ((sb.devFlags() & MdSuperblock.DEVFLAG_FAIL_FAST) != 0 ? " failfast" : ""));
        }
        out.add("    Update Time : " + MdadmText.ctime(sb.utime(), zone));
        if (sb.bblogSize() != 0 && sb.bblogOffset() != 0) {
            out.add(String.format("  Bad Block Log : %d entries available at offset %d sectors%s",
                    sb.bblogSize() * 512 / 8, sb.bblogOffset(),
                    (featureMap & MdSuperblock.FEATURE_BAD_BLOCKS) != 0 ? " - bad blocks present." : ""));
        }
        int expected = MdSuperblockCodec.checksum(m.rawSuperblock(), sb.maxDev());
        out.add(expected == sb.sbCsum()
                ? String.format("       Checksum : %x - correct", sb.sbCsum())
                : String.format("       Checksum : %x - expected %x", sb.sbCsum(), expected));
        out.add("         Events : " + Long.toUnsignedString(sb.events()));
        out.add("");
        if (sb.level() == 10) {
            out.add("         Layout :" + Raid10Layout.describe(sb.layout()));
            out.add(String.format("     Chunk Size : %dK", sb.chunkSize() / 2));
        }
        out.add("");
        int role = sb.ownRole();
        String roleText;
        if (role >= MdSuperblock.ROLE_FAULTY) {
            roleText = "spare";
        } else if (role == MdSuperblock.ROLE_JOURNAL) {
            roleText = "Journal";
        } else if ((featureMap & MdSuperblock.FEATURE_REPLACEMENT) != 0) {
            roleText = "Replacement device " + role;
        } else {
            roleText = "Active device " + role;
        }
        out.add("   Device Role : " + roleText);
        out.add("   Array State : " + arrayState(sb) + " ('A' == active, '.' == missing, 'R' == replacing)");
        String inconsistent = inconsistency(sb);
        if (inconsistent != null) {
            out.add("WARNING Array state is inconsistent - each number should appear only once");
            out.add(inconsistent);
        }
        return out;
    }

    /** Array size in bytes as mdadm computes it (raid10: size × raid_disks / copies), or -1. */
    static long arrayBytes(MdSuperblock sb) {
        long ddsks = 0;
        long denom = 1;
        switch (sb.level()) {
            case 1 -> ddsks = 1;
            case 4, 5 -> ddsks = sb.raidDisks() - 1;
            case 6 -> ddsks = sb.raidDisks() - 2;
            case 10 -> {
                ddsks = sb.raidDisks();
                denom = (long) Raid10Layout.nearCopies(sb.layout()) * Raid10Layout.farCopies(sb.layout());
            }
            default -> ddsks = 0;
        }
        if (ddsks == 0 || denom == 0) {
            return -1;
        }
        return (sb.size() << 9) * ddsks / denom;
    }

    /** getinfo_super1's space_before/space_after; space_after &lt; 0 encodes a negative ("too small") value. */
    private static long[] unusedSpace(MdSuperblock sb, BitmapSuperblock bms, long deviceBytes) {
        long superOffset = sb.superOffset();
        long dataSize = sb.level() <= 0 ? sb.dataSize() : sb.size();
        long bitmapOffset = sb.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET) ? sb.bitmapOffset() : 0;
        long before;
        long after;
        if (Long.compareUnsigned(sb.dataOffset(), superOffset) < 0) {
            before = sb.dataOffset();
            long end = superOffset;
            if (sb.bblogOffset() != 0 && sb.bblogSize() != 0 && superOffset + sb.bblogOffset() < end) {
                end = superOffset + sb.bblogOffset();
            }
            if (superOffset + bitmapOffset < end) {
                end = superOffset + bitmapOffset;
            }
            after = sb.dataOffset() + dataSize < end ? end - dataSize - sb.dataOffset() : 0;
        } else {
            long earliest = superOffset + (32 + 4) * 2;
            if (bitmapOffset > 0 && bms != null) {
                // mdadm adds the bitmap size to bitmap_offset without super_offset (kept as it is).
                long bmend = bitmapOffset + BitmapGeometry.slotBytes(bms.chunkSize() > 0 ? bms.chunks() : 0) / 512;
                if (bmend > earliest) {
                    earliest = bmend;
                }
            }
            if (sb.bblogOffset() != 0 && sb.bblogSize() != 0) {
                long bbend = superOffset + sb.bblogOffset() + sb.bblogSize();
                if (bbend > earliest) {
                    earliest = bbend;
                }
            }
            before = Long.compareUnsigned(earliest, sb.dataOffset()) < 0 ? sb.dataOffset() - earliest : 0;
            after = deviceBytes / 512 - dataSize - sb.dataOffset();
        }
        if (before == 0 && after == 0) {
            after = 1;
        }
        return new long[] {before, after};
    }

    private static String arrayState(MdSuperblock sb) {
        StringBuilder s = new StringBuilder();
        int[] roles = sb.devRoles();
        for (int d = 0; d < sb.raidDisks(); d++) {
            int cnt = 0;
            for (int r : roles) {
                if (r == d) {
                    cnt++;
                }
            }
            if (cnt == 2 && sb.level() > 0) {
                s.append('R');
            } else if (cnt == 1) {
                s.append('A');
            } else if (cnt == 0) {
                s.append('.');
            } else {
                s.append('?');
            }
        }
        return s.toString();
    }

    private static String inconsistency(MdSuperblock sb) {
        int[] roles = sb.devRoles();
        boolean bad = arrayState(sb).indexOf('?') >= 0;
        for (int r : roles) {
            if (r <= MdSuperblock.ROLE_MAX && r > sb.raidDisks()) {
                bad = true;
            }
        }
        if (!bad) {
            return null;
        }
        StringBuilder s = new StringBuilder();
        for (int d = 0; d < roles.length; d++) {
            s.append(roles[d] >= MdSuperblock.ROLE_FAULTY ? " " + d + ":-" : " " + d + ":" + roles[d]);
        }
        return s.toString();
    }

    static Map<String, Object> examineJson(MemberMetadata m) {
        MdSuperblock sb = m.superblock();
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("device", m.device());
        j.put("magic", String.format("%08x", sb.magic()));
        j.put("version", "1.2");
        j.put("featureMap", sb.featureMap());
        j.put("arrayUuid", MdSuperblock.mdadmUuid(sb.setUuid()));
        j.put("name", sb.name());
        BitmapSuperblock bms = m.bitmap();
        if (bms != null && bms.nodes() > 0) {
            j.put("clusterName", bms.clusterName());
        }
        j.put("creationTime", sb.ctime() & 0xFFFFFFFFFFL);
        j.put("raidLevel", MdadmText.levelName(sb.level()));
        j.put("raidDevices", sb.raidDisks());
        if (sb.level() == 10) {
            j.put("layout", Raid10Layout.describe(sb.layout()).trim());
            j.put("chunkSizeKiB", sb.chunkSize() / 2);
        }
        j.put("availDevSizeSectors", sb.dataSize());
        long arrayBytes = arrayBytes(sb);
        if (arrayBytes >= 0) {
            j.put("arraySizeKiB", arrayBytes >> 10);
        }
        j.put("usedDevSizeSectors", sb.size());
        j.put("dataOffsetSectors", sb.dataOffset());
        j.put("superOffsetSectors", sb.superOffset());
        if (sb.hasFeature(MdSuperblock.FEATURE_RECOVERY_OFFSET)) {
            j.put("recoveryOffsetSectors", sb.recoveryOffset());
        }
        j.put("state", sb.resyncOffset() + 1 != 0 ? "active" : "clean");
        j.put("resyncOffset", Long.toUnsignedString(sb.resyncOffset()));
        j.put("deviceUuid", MdSuperblock.mdadmUuid(sb.deviceUuid()));
        if (sb.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
            j.put("internalBitmapSectorsFromSuperblock", sb.bitmapOffset());
        }
        j.put("updateTime", sb.utime() & 0xFFFFFFFFFFL);
        int expected = MdSuperblockCodec.checksum(m.rawSuperblock(), sb.maxDev());
        j.put("checksum", String.format("%x", sb.sbCsum()));
        j.put("checksumCorrect", expected == sb.sbCsum());
        j.put("events", sb.events());
        j.put("devNumber", sb.devNumber());
        int role = sb.ownRole();
        j.put("deviceRole", role >= MdSuperblock.ROLE_FAULTY ? (role == MdSuperblock.ROLE_FAULTY ? "faulty" : "spare")
                : role == MdSuperblock.ROLE_JOURNAL ? "journal" : "active " + role);
        j.put("arrayState", arrayState(sb));
        j.put("valid", m.valid());
        if (!m.valid()) {
            j.put("problem", m.firstProblem());
        }
        return j;
    }

    // ------------------------------------------------------------------ examine-bitmap

    static List<String> examineBitmap(MemberMetadata m, ZoneId zone) {
        List<String> out = new ArrayList<>();
        BitmapSuperblock sb = m.bitmap();
        out.add("        Filename : " + m.device());
        out.add(String.format("           Magic : %08x", sb.magic()));
        out.add("         Version : " + sb.version());
        out.add("            UUID : " + MdSuperblock.mdadmUuid(sb.uuid()));
        boolean clustered = sb.nodes() != 0;
        if (!clustered) {
            out.add("          Events : " + Long.toUnsignedString(sb.events()));
            out.add("  Events Cleared : " + Long.toUnsignedString(sb.eventsCleared()));
            out.add("           State : " + bitmapState(sb.state()));
        }
        out.add("       Chunksize : " + MdadmText.humanChunk(Integer.toUnsignedLong(sb.chunkSize())));
        out.add("          Daemon : " + sb.daemonSleep() + "s flush period");
        out.add("      Write Mode : " + (sb.writeBehind() != 0 ? "Allow write behind, max " + sb.writeBehind() : "Normal"));
        out.add(String.format("       Sync Size : %d%s", sb.syncSize() / 2, MdadmText.humanSize(sb.syncSize() * 512)));
        if (!clustered) {
            BitmapSlot slot = m.slots().get(0);
            out.add(bitsLine(slot));
        } else {
            out.add("   Cluster nodes : " + sb.nodes());
            out.add("    Cluster name : " + MdadmText.padRight64(sb.clusterName()));
            for (BitmapSlot slot : m.slots()) {
                BitmapSuperblock s = slot.superblock();
                out.add("       Node Slot : " + slot.index());
                out.add("          Events : " + Long.toUnsignedString(s.events()));
                out.add("  Events Cleared : " + Long.toUnsignedString(s.eventsCleared()));
                out.add("           State : " + bitmapState(s.state()));
                out.add(bitsLine(slot));
            }
        }
        return out;
    }

    private static String bitsLine(BitmapSlot slot) {
        long total = slot.chunks();
        return String.format("          Bitmap : %d bits (chunks), %d dirty (%s%%)", total, slot.dirty(),
                MdadmText.oneDecimal(100.0 * slot.dirty() / (total == 0 ? 1 : total)));
    }

    private static String bitmapState(int state) {
        return switch (state) {
            case 0 -> "OK";
            case 2 -> "Out of date";
            default -> "Unknown";
        };
    }

    static Map<String, Object> examineBitmapJson(MemberMetadata m) {
        BitmapSuperblock sb = m.bitmap();
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("device", m.device());
        j.put("magic", String.format("%08x", sb.magic()));
        j.put("version", sb.version());
        j.put("uuid", MdSuperblock.mdadmUuid(sb.uuid()));
        j.put("chunkSizeBytes", Integer.toUnsignedLong(sb.chunkSize()));
        j.put("daemonSleepSeconds", sb.daemonSleep());
        j.put("writeBehind", sb.writeBehind());
        j.put("syncSizeKiB", sb.syncSize() / 2);
        j.put("chunks", sb.chunkSize() > 0 ? sb.chunks() : 0);
        if (sb.nodes() != 0) {
            j.put("clusterNodes", sb.nodes());
            j.put("clusterName", sb.clusterName());
        }
        List<Map<String, Object>> slots = new ArrayList<>();
        for (BitmapSlot slot : m.slots()) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("slot", slot.index());
            s.put("byteOffset", slot.byteOffset());
            s.put("events", slot.superblock().events());
            s.put("eventsCleared", slot.superblock().eventsCleared());
            s.put("state", bitmapState(slot.superblock().state()));
            s.put("bits", slot.chunks());
            s.put("dirty", slot.dirty());
            if (slot.problem() != null) {
                s.put("problem", slot.problem());
            }
            slots.add(s);
        }
        j.put("slots", slots);
        return j;
    }
}
