package io.clustermd.cmd.online;

import io.clustermd.control.ArrayState;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;

import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * {@code mdadm --detail} (Detail.c and super1.c's {@code detail_super1}, mdadm 4.2): the same field
 * names, order and spacing, with our members' paths in the device table. Members that are regular
 * files have no major/minor numbers; those columns show "-". One line is ours, "Mismatch Count"
 * (md's sysfs {@code mismatch_cnt}), printed while a check or repair runs or after one found
 * differences.
 */
public final class DetailFormat {

    private DetailFormat() {
    }

    public static List<String> detail(ArrayStatus s, String hostname, ZoneId zone) {
        List<String> l = new ArrayList<>();
        l.add(MdstatFormat.deviceName(s) + ":");
        l.add("           Version : 1.2");
        l.add("     Creation Time : " + io.clustermd.cmd.MdadmText.ctime(s.creationTime(), zone));
        l.add("        Raid Level : " + s.level());
        l.add("        Array Size : " + s.arraySizeKib() + io.clustermd.cmd.MdadmText.humanSize(s.arraySizeKib() * 1024));
        l.add("     Used Dev Size : " + s.componentSizeKib() + io.clustermd.cmd.MdadmText.humanSize(s.componentSizeKib() * 1024));
        l.add("      Raid Devices : " + s.raidDisks());
        l.add("     Total Devices : " + s.members().size());
        l.add("       Persistence : Superblock is persistent");
        l.add("");
        if (s.bitmap() != null) {
            l.add("     Intent Bitmap : " + (s.cluster() != null ? "Internal(Clustered)" : "Internal"));
            l.add("");
        }
        l.add("       Update Time : " + io.clustermd.cmd.MdadmText.ctime(s.updateTime(), zone));
        l.add("             State : " + stateLine(s) + " ");
        l.add("    Active Devices : " + s.activeDevices());
        if (s.workingDevices() > 0) {
            l.add("   Working Devices : " + s.workingDevices());
        }
        l.add("    Failed Devices : " + s.failedDevices());
        l.add("     Spare Devices : " + s.spareDevices());
        l.add("");
        if ("raid10".equals(s.level())) {
            if (s.layout() != null) {
                l.add("            Layout : " + raid10Layout(s.layout()));
            }
            if (s.chunkKib() != null) {
                l.add("        Chunk Size : " + s.chunkKib() + "K");
                l.add("");
            }
        }
        l.add("Consistency Policy : " + (s.bitmap() != null ? "bitmap" : "resync"));
        l.add("");
        SyncStatus sync = s.sync();
        if (!sync.isIdle() && sync.waiting() == null) {
            long percent = (((sync.doneSectors() >> 10) * 1000) / ((sync.totalSectors() >> 10) + 1)) / 10;
            l.add(String.format(Locale.ROOT, "    %7s Status : %d%% complete", statusWord(sync.action()), percent));
            l.add("");
        }
        String name = s.setName() == null ? s.name() : s.setName();
        int colon = name.indexOf(':');
        boolean local = colon > 0 && hostname != null && name.substring(0, colon).equals(hostname);
        l.add("              Name : " + name + (local ? "  (local to host " + hostname + ")" : ""));
        if (s.cluster() != null && s.cluster().clusterName() != null) {
            l.add("      Cluster Name : " + String.format("%-64s", s.cluster().clusterName()));
        }
        l.add("              UUID : " + s.uuid());
        l.add("            Events : " + s.events());
        if (MdstatFormat.showsMismatches(s)) {
            l.add("    Mismatch Count : " + s.mismatchCount());
        }
        l.add("");
        l.addAll(table(s));
        return l;
    }

    /** "clean, degraded, recovering" plus mdadm's " (PENDING)"-style note for a waiting action. */
    static String stateLine(ArrayStatus s) {
        String words = s.state().stream().map(ArrayState::mdadmWord).collect(Collectors.joining(", "));
        if (s.sync().waiting() != null) {
            words += " (" + s.sync().waiting().name() + ")";
        }
        return words;
    }

    /** Detail.c's sync_action[] titles. */
    static String statusWord(SyncAction a) {
        return switch (a) {
            case RECOVER -> "Rebuild";
            case RESYNC, REPAIR -> "Resync";
            case CHECK -> "Check";
            case IDLE -> "Idle";
        };
    }

    /** mdadm's print_r10_layout. */
    static String raid10Layout(int layout) {
        int near = layout & 0xff;
        int far = (layout >> 8) & 0xff;
        StringBuilder sb = new StringBuilder();
        String sep = "";
        if (near != 1) {
            sb.append("near=").append(near);
            sep = ",";
        }
        if (far != 1) {
            sb.append(sep).append((layout & 0x10000) != 0 ? "offset=" : "far=").append(far);
        }
        if (near * far == 1) {
            sb.append("NO REDUNDANCY");
        }
        return sb.toString();
    }

    /**
     * The device table: one row per slot (a "removed" row for an empty one), then, after a blank line,
     * spares and faulty members in dev_number order, as Detail.c walks its disks[] array.
     */
    static List<String> table(ArrayStatus s) {
        List<String> l = new ArrayList<>();
        l.add("    Number   Major   Minor   RaidDevice State");
        for (int slot = 0; slot < s.raidDisks(); slot++) {
            MemberStatus m = memberOfSlot(s, slot);
            if (m == null) {
                l.add(String.format(Locale.ROOT, "   %5s   %5d    %5d    %5d      removed", "-", 0, 0, slot));
            } else {
                String state = m.state() == MemberState.IN_SYNC ? "active sync" : "spare rebuilding";
                l.add(String.format(Locale.ROOT, "   %5d   %5s    %5s    %5d      %s   %s", m.devNumber(),
                        num(m.major()), num(m.minor()), slot, state, m.path()));
            }
        }
        List<MemberStatus> rest = new ArrayList<>(s.members().stream()
                .filter(m -> m.state() == MemberState.SPARE || m.state() == MemberState.FAULTY
                        || m.slot() == null || m.slot() >= s.raidDisks())
                .toList());
        rest.sort(Comparator.comparingInt(MemberStatus::devNumber));
        if (!rest.isEmpty()) {
            l.add("");
        }
        for (MemberStatus m : rest) {
            String state = m.state() == MemberState.FAULTY ? "faulty" : "spare";
            l.add(String.format(Locale.ROOT, "   %5d   %5s    %5s        -      %s   %s", m.devNumber(),
                    num(m.major()), num(m.minor()), state, m.path()));
        }
        return l;
    }

    private static MemberStatus memberOfSlot(ArrayStatus s, int slot) {
        for (MemberStatus m : s.members()) {
            if (m.slot() != null && m.slot() == slot
                    && (m.state() == MemberState.IN_SYNC || m.state() == MemberState.REBUILDING)) {
                return m;
            }
        }
        return null;
    }

    private static String num(Integer n) {
        return n == null ? "-" : n.toString();
    }
}
