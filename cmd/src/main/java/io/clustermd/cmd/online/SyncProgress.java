package io.clustermd.cmd.online;

import io.clustermd.control.ArrayStatus;
import io.clustermd.control.ControlRequest;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * Follows the running resync, recovery, check or repair until the array is idle (mdadm's
 * {@code --wait}), showing its progress: on a terminal one line redrawn in place
 * ({@code check  45.2%  29.0/64.0 MiB  12.3 MB/s  ETA 0:02}); otherwise the same as plain lines,
 * one per 10 % of progress or per 10 s, for logs and scripts.
 */
final class SyncProgress {

    private final PrintWriter out;
    private final boolean terminal;
    private final long pollMillis;

    SyncProgress(PrintWriter out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
        this.pollMillis = terminal ? 500 : 1000;
    }

    /** Polls until idle; returns the last status (idle). */
    ArrayStatus untilIdle(ControlClient client) throws InterruptedException {
        double lastPercent = -100;
        long lastLine = 0;
        int width = 0;
        while (true) {
            ArrayStatus s = OnlineCommand.requireOk(client.call(new ControlRequest.Status())).status();
            SyncStatus sync = s.sync();
            if (sync.action() == SyncAction.IDLE) {
                if (terminal && width > 0) {
                    out.print("\r" + " ".repeat(width) + "\r");
                    out.flush();
                }
                return s;
            }
            String line = line(sync);
            double percent = sync.totalSectors() == 0 ? 0 : 100.0 * sync.doneSectors() / sync.totalSectors();
            long now = System.nanoTime();
            if (terminal) {
                out.print("\r" + line + " ".repeat(Math.max(0, width - line.length())));
                width = line.length();
                out.flush();
            } else if (percent >= lastPercent + 10 || now - lastLine >= 10_000_000_000L) {
                out.println(line);
                out.flush();
                lastPercent = percent;
                lastLine = now;
            }
            Thread.sleep(pollMillis);
        }
    }

    /** {@code check  45.2%  29.0/64.0 MiB  12.3 MB/s  ETA 0:02}, or what the action waits for. */
    static String line(SyncStatus sync) {
        String action = sync.action().name().toLowerCase(Locale.ROOT);
        if (sync.waitingFor() != null) {
            return action + "  waiting for " + sync.waitingFor();
        }
        if (sync.waiting() != null && sync.totalSectors() == 0) {
            return action + "  pending";
        }
        double percent = sync.totalSectors() == 0 ? 0 : 100.0 * sync.doneSectors() / sync.totalSectors();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-8s %5.1f%%  %s/%s  %.1f MB/s", action, percent,
                size(sync.doneSectors() * 512), size(sync.totalSectors() * 512), sync.speedKibPerSec() * 1024 / 1e6));
        Long finish = sync.finishSeconds() != null ? sync.finishSeconds() : sync.speedKibPerSec() > 0
                ? (sync.totalSectors() - sync.doneSectors()) / 2 / sync.speedKibPerSec() : null;
        if (finish != null) {
            long t = finish;
            b.append(t >= 3600 ? String.format(Locale.ROOT, "  ETA %d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
                    : String.format(Locale.ROOT, "  ETA %d:%02d", t / 60, t % 60));
        }
        return b.toString();
    }

    private static String size(long bytes) {
        return bytes >= 10L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
