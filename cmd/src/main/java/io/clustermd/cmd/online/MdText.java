package io.clustermd.cmd.online;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * mdadm's size and date spelling ({@code human_size}, {@code ctime}) for the online reports. The
 * offline commands' helper is private to their package, so the two rules live here as well; both
 * follow util.c exactly.
 */
final class MdText {

    private static final DateTimeFormatter CTIME = DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ROOT);

    private MdText() {
    }

    /** {@code human_size(bytes)}: empty below 5000 KiB, else " (x.xx MiB y.yy MB)", GiB from 2 GiB, TiB from 2 TiB. */
    static String humanSize(long bytes) {
        if (bytes < 5000L * 1024) {
            return "";
        }
        if (bytes < 2L << 30) {
            long cMiB = (bytes * 200L / (1L << 20) + 1) / 2;
            long cMB = (bytes / (1000000L / 200L) + 1) / 2;
            return String.format(Locale.ROOT, " (%d.%02d MiB %d.%02d MB)", cMiB / 100, cMiB % 100, cMB / 100, cMB % 100);
        }
        if (bytes < 2L << 40) {
            long cGiB = (bytes * 200L / (1L << 30) + 1) / 2;
            long cGB = (bytes / (1000000000L / 200L) + 1) / 2;
            return String.format(Locale.ROOT, " (%d.%02d GiB %d.%02d GB)", cGiB / 100, cGiB % 100, cGB / 100, cGB % 100);
        }
        long cTiB = (bytes * 200L / (1L << 40) + 1) / 2;
        long cTB = (bytes / (1000000000000L / 200L) + 1) / 2;
        return String.format(Locale.ROOT, " (%d.%02d TiB %d.%02d TB)", cTiB / 100, cTiB % 100, cTB / 100, cTB % 100);
    }

    /** {@code printf("%.24s", ctime(&t))}. */
    static String ctime(long epochSeconds, ZoneId zone) {
        return CTIME.format(Instant.ofEpochSecond(epochSeconds).atZone(zone));
    }
}
