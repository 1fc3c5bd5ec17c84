package io.clustermd.daemon.systemd;

import io.clustermd.md.array.MdArray;
import io.clustermd.md.array.MemberState;
import io.clustermd.md.array.SyncEngine;

import java.util.Locale;

/** The one-line array state the service manager shows ({@code STATUS=}, as in {@code systemctl status}). */
public final class ServiceStatus {

    private ServiceStatus() {
    }

    /**
     * E.g. {@code md0: active [2/1] [U_], recovery 12.5% at 31 MB/s} or
     * {@code md0: active [2/2] [UU], resync waiting for lock 'resync'}, as /proc/mdstat says it.
     */
    public static String line(MdArray.Snapshot s, String cluster) {
        int roles = s.reference().raidDisks();
        char[] picture = new char[roles];
        java.util.Arrays.fill(picture, '_');
        int inSync = 0;
        for (MdArray.MemberView m : s.members()) {
            if (m.state() == MemberState.IN_SYNC && m.slot() >= 0 && m.slot() < roles) {
                picture[m.slot()] = 'U';
                inSync++;
            }
        }
        StringBuilder b = new StringBuilder(s.name()).append(": ").append(s.degraded() ? "degraded" : "active")
                .append(" [").append(roles).append('/').append(inSync).append("] [").append(picture).append(']');
        SyncEngine.Progress p = s.sync();
        if (p.action() != SyncEngine.Action.IDLE) {
            b.append(", ").append(p.action().name().toLowerCase(Locale.ROOT));
            if (p.waitingFor() != null) {
                b.append(" waiting for ").append(p.waitingFor());
            } else if (p.totalBytes() > 0) {
                b.append(String.format(Locale.ROOT, " %.1f%% at %d MB/s", 100.0 * p.doneBytes() / p.totalBytes(),
                        p.bytesPerSecond() / 1_000_000));
            }
        }
        if (s.mismatches() > 0) {
            b.append(", mismatch_cnt ").append(s.mismatches());
        }
        if (cluster != null) {
            b.append("; ").append(cluster);
        }
        return b.toString();
    }
}
