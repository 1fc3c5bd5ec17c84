package io.clustermd.cmd.online;

import io.clustermd.control.ArrayStatus;
import io.clustermd.control.BitmapStatus;
import io.clustermd.control.ClusterStatus;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * /proc/mdstat for one array, as md's {@code md_seq_show}, {@code raid1_status}/{@code raid10_status},
 * {@code status_resync} and {@code md_bitmap_status} print it. The array is called {@code md-NAME};
 * members are listed by file name with their {@code dev_number}, in {@code dev_number} order. One
 * line is ours: {@code mismatch_cnt} (md keeps it in sysfs) while a check or repair runs or after
 * one found differences; so are the cluster lines of a clustered array (this node's slot, what each
 * other slot does).
 */
public final class MdstatFormat {

    /** md's personalities line: both personalities clustermd serves are always "registered". */
    static final String PERSONALITIES = "Personalities : [raid1] [raid10] ";

    private MdstatFormat() {
    }

    /** The whole /proc/mdstat text for one array, personalities header and "unused devices" footer included. */
    public static List<String> mdstat(ArrayStatus s) {
        List<String> lines = new ArrayList<>();
        lines.add(PERSONALITIES);
        lines.addAll(array(s));
        lines.add("unused devices: <none>");
        return lines;
    }

    /** The array's block: header line, blocks line, progress, bitmap, and md's closing blank line. */
    static List<String> array(ArrayStatus s) {
        List<String> lines = new ArrayList<>();
        StringBuilder head = new StringBuilder(deviceName(s)).append(" : active");
        if (s.readOnly()) {
            head.append(" (read-only)");
        }
        head.append(' ').append(s.level());
        List<MemberStatus> byNumber = new ArrayList<>(s.members());
        byNumber.sort(Comparator.comparingInt(MemberStatus::devNumber));
        for (MemberStatus m : byNumber) {
            head.append(' ').append(fileName(m.path())).append('[').append(m.devNumber()).append(']');
            if (m.state() == MemberState.FAULTY) {
                head.append("(F)");
            } else if (m.state() == MemberState.SPARE) {
                head.append("(S)");
            }
        }
        lines.add(head.toString());
        lines.add("      " + s.arraySizeKib() + " blocks super 1.2" + personalityStatus(s));

        // md_seq_show: "\n      ", status_resync, another "\n      " if it printed, bitmap, "\n".
        String progress = progressLine(s.sync());
        String mismatches = showsMismatches(s) ? "mismatch_cnt: " + s.mismatchCount() : null;
        StringBuilder tail = new StringBuilder("      ");
        if (progress != null) {
            lines.add("      " + progress);
        }
        if (s.sync().waitingFor() != null) {
            // Ours: md's sync thread waits silently; here a wait longer than a second is named.
            lines.add("      waiting for " + s.sync().waitingFor());
        }
        if (mismatches != null) {
            lines.add("      " + mismatches);
        }
        if (s.bitmap() != null) {
            tail.append(bitmapLine(s.bitmap()));
            lines.add(tail.toString());
            lines.addAll(clusterLines(s.cluster()));
            lines.add("");
        } else {
            lines.add(tail.toString());
        }
        return lines;
    }

    /** {@code md-NAME}: clustermd's arrays are not kernel md devices, so they get a name of their own. */
    public static String deviceName(ArrayStatus s) {
        return "md-" + s.name();
    }

    /** raid1_status: " [n/m] [UU]"; raid10_status adds chunk and copies first. */
    static String personalityStatus(ArrayStatus s) {
        StringBuilder sb = new StringBuilder();
        if ("raid10".equals(s.level()) && s.layout() != null) {
            int layout = s.layout();
            int near = layout & 0xff;
            int far = (layout >> 8) & 0xff;
            if (s.chunkKib() != null) {
                sb.append(' ').append(s.chunkKib()).append("K chunks");
            }
            if (near > 1) {
                sb.append(' ').append(near).append(" near-copies");
            }
            if (far > 1) {
                sb.append(' ').append(far).append((layout >> 16 & 1) != 0 ? " offset-copies" : " far-copies");
            }
        }
        int working = 0;
        StringBuilder slots = new StringBuilder();
        for (int slot = 0; slot < s.raidDisks(); slot++) {
            boolean up = s.inSyncMemberOfSlot(slot) != null;
            working += up ? 1 : 0;
            slots.append(up ? 'U' : '_');
        }
        sb.append(" [").append(s.raidDisks()).append('/').append(working).append("] [").append(slots).append(']');
        return sb.toString();
    }

    /**
     * status_resync's line without its indent, or null when nothing runs or waits:
     * {@code [=====>...............]  resync = 25.3% (16320/64512) finish=0.3min speed=2720K/sec}.
     */
    static String progressLine(SyncStatus sync) {
        if (sync.isIdle()) {
            return null;
        }
        if (sync.waiting() != null) {
            // md's status_resync: "recover=REMOTE" while another node rebuilds a member, else "resync=".
            return (sync.action() == SyncAction.RECOVER ? "\trecover=" : "\tresync=") + sync.waiting().name();
        }
        long done = sync.doneSectors();
        long max = sync.totalSectors();
        // md scales by 2^10 so that the products fit 32-bit division; the +1 avoids dividing by zero.
        long perMilli = ((done >> 10) * 1000) / ((max >> 10) + 1);
        int x = (int) (perMilli / 50);
        int y = 20 - x;
        StringBuilder sb = new StringBuilder("[");
        sb.append("=".repeat(x)).append('>').append(".".repeat(Math.max(0, y))).append("] ");
        sb.append(String.format(Locale.ROOT, " %s =%3d.%d%% (%d/%d)", actionWord(sync.action()),
                perMilli / 10, perMilli % 10, done / 2, max / 2));
        long rt = finishSeconds(sync);
        sb.append(String.format(Locale.ROOT, " finish=%d.%dmin", rt / 60, (rt % 60) / 6));
        sb.append(String.format(Locale.ROOT, " speed=%dK/sec", sync.speedKibPerSec()));
        return sb.toString();
    }

    /** md's word: repair runs with MD_RECOVERY_SYNC and without MD_RECOVERY_CHECK, so it reads "resync". */
    static String actionWord(SyncAction a) {
        return switch (a) {
            case RESYNC, REPAIR -> "resync";
            case RECOVER -> "recovery";
            case CHECK -> "check";
            case IDLE -> "idle";
        };
    }

    /** The daemon's estimate, else remaining KiB over the speed; md's own fallback when the speed is 0. */
    static long finishSeconds(SyncStatus sync) {
        if (sync.finishSeconds() != null) {
            return Math.max(0, sync.finishSeconds());
        }
        long remainingSectors = sync.totalSectors() - sync.doneSectors();
        if (sync.speedKibPerSec() > 0) {
            return remainingSectors / 2 / sync.speedKibPerSec();
        }
        return remainingSectors >> 5;
    }

    /** md_bitmap_status: "bitmap: 1/1 pages [4KB], 65536KB chunk". */
    static String bitmapLine(BitmapStatus b) {
        long chunkKb = b.chunkBytes() >> 10;
        return "bitmap: " + b.pagesInMemory() + "/" + b.pagesTotal() + " pages [" + (b.pagesInMemory() * 4) + "KB], "
                + (chunkKb != 0 ? chunkKb + "KB" : b.chunkBytes() + "B") + " chunk";
    }

    /**
     * Ours, for md-cluster arrays (md shows none of it): this node's slot, then what each known slot
     * does, so "who is resyncing what" is visible on every node.
     */
    static List<String> clusterLines(ClusterStatus c) {
        if (c == null) {
            return List.of();
        }
        List<String> lines = new ArrayList<>();
        StringBuilder head = new StringBuilder("      cluster");
        if (c.clusterName() != null) {
            head.append(' ').append(c.clusterName());
        }
        head.append(':');
        if (c.nodeSlot() != null) {
            head.append(" this node is slot ").append(c.nodeSlot());
        }
        if (c.slotCount() != null) {
            head.append(c.nodeSlot() != null ? " of " : " ").append(c.slotCount()).append(" slots");
        }
        if (c.lockBackend() != null) {
            head.append("; locks ").append(c.lockBackend()).append(' ')
                    .append(c.lockHealth() == null ? "" : c.lockHealth());
        }
        lines.add(head.toString());
        if (c.messagesSent() != null && c.messagesReceived() != null && c.lockRequests() != null) {
            lines.add(String.format(Locale.ROOT, "      messages sent %d, received %d; lock requests %d (%.1f/s)",
                    c.messagesSent(), c.messagesReceived(), c.lockRequests(),
                    c.lockRequestsPerSecond() == null ? 0.0 : c.lockRequestsPerSecond()));
        }
        if (c.nodes() != null) {
            for (ClusterStatus.SlotStatus slot : c.nodes()) {
                StringBuilder l = new StringBuilder("      slot ").append(slot.slot());
                if (slot.node() != null) {
                    l.append(" (").append(slot.node()).append(')');
                }
                l.append(": ").append(slot.state() == null ? "unknown" : slot.state());
                if (slot.resyncLowSector() != null && slot.resyncHighSector() != null) {
                    l.append(", resync window ").append(slot.resyncLowSector()).append('-')
                            .append(slot.resyncHighSector()).append(" sectors");
                }
                lines.add(l.toString());
            }
        }
        return lines;
    }

    static boolean showsMismatches(ArrayStatus s) {
        SyncAction a = s.sync().action();
        return s.mismatchCount() > 0 || a == SyncAction.CHECK || a == SyncAction.REPAIR;
    }

    static String fileName(String path) {
        Path f = Path.of(path).getFileName();
        return f == null ? path : f.toString();
    }
}
