package io.clustermd.cmd;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** mdadm's number and date formatting (util.c {@code human_size}, C {@code ctime}), reproduced exactly; shared by the offline and online commands. */
public final class MdadmText {

    private static final DateTimeFormatter CTIME =
            DateTimeFormatter.ofPattern("EEE MMM ppd HH:mm:ss yyyy", Locale.ROOT);

    private MdadmText() {
    }

    /**
     * {@code human_size(bytes)}: empty below 5000 KiB, else " (x.xx MiB y.yy MB)", GiB/GB from
     * 2 GiB, TiB/TB from 2 TiB; centi-units rounded half up with mdadm's integer arithmetic.
     */
    public static String humanSize(long bytes) {
        if (bytes < 5000L * 1024) {
            return "";
        }
        if (bytes < 2L * 1024 * 1024 * 1024) {
            long cMiB = (bytes * 200L / (1L << 20) + 1) / 2;
            long cMB = (bytes / (1000000L / 200L) + 1) / 2;
            return String.format(" (%d.%02d MiB %d.%02d MB)", cMiB / 100, cMiB % 100, cMB / 100, cMB % 100);
        }
        if (bytes < 2L * 1024 * 1024 * 1024 * 1024) {
            long cGiB = (bytes * 200L / (1L << 30) + 1) / 2;
            long cGB = (bytes / (1000000000L / 200L) + 1) / 2;
            return String.format(" (%d.%02d GiB %d.%02d GB)", cGiB / 100, cGiB % 100, cGB / 100, cGB % 100);
        }
        long cTiB = (bytes * 200L / (1L << 40) + 1) / 2;
        long cTB = (bytes / (1000000000000L / 200L) + 1) / 2;
        return String.format(" (%d.%02d TiB %d.%02d TB)", cTiB / 100, cTiB % 100, cTB / 100, cTB % 100);
    }

    /** {@code printf("%.24s", ctime(&t))} with md's 40-bit seconds, in the local time zone. */
    public static String ctime(long mdTime, ZoneId zone) {
        long seconds = mdTime & 0xFFFFFFFFFFL;
        return CTIME.format(Instant.ofEpochSecond(seconds).atZone(zone));
    }

    /** {@code printf("%2.1f", v)}: glibc rounds the exact binary value half to even. */
    static String oneDecimal(double v) {
        String s = new BigDecimal(v).setScale(1, RoundingMode.HALF_EVEN).toPlainString();
        return s.length() < 2 ? " " + s : s;
    }

    /** bitmap.c {@code human_chunksize}: "64 MB", "4 KB" (binary units, integer division). */
    static String humanChunk(long bytes) {
        String[] suffixes = {"B", "KB", "MB", "GB", "TB"};
        int i = 0;
        long b = bytes;
        while ((b >> 10) != 0 && i < suffixes.length - 1) {
            b >>= 10;
            i++;
        }
        return b + " " + suffixes[i];
    }

    /** printf "%-64s". */
    static String padRight64(String s) {
        return String.format("%-64s", s);
    }

    /** mdadm's personality names (maps.c {@code pers[]}). */
    static String levelName(int level) {
        return switch (level) {
            case -1 -> "linear";
            case 0 -> "raid0";
            case 1 -> "raid1";
            case 4 -> "raid4";
            case 5 -> "raid5";
            case 6 -> "raid6";
            case 10 -> "raid10";
            case -4 -> "multipath";
            case -5 -> "faulty";
            case -1000000 -> "container";
            default -> "-unknown-";
        };
    }
}
