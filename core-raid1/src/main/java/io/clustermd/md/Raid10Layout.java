package io.clustermd.md;

import java.util.Locale;

/**
 * md raid10 layout word: {@code near_copies | far_copies << 8 | offset << 16} (md-raid10, mdadm
 * {@code parse_layout_10}). Near, far and offset layouts run on one node; a clustered array takes
 * near layouts only, as md-cluster does.
 */
public final class Raid10Layout {

    private Raid10Layout() {
    }

    /** Parses mdadm's spelling: n2, n3, f2, o2 ... */
    public static int parse(String text) {
        String t = text.toLowerCase(Locale.ROOT);
        if (t.length() < 2 || "nfo".indexOf(t.charAt(0)) < 0) {
            throw new IllegalArgumentException("raid10 layout '" + text + "' not understood (expected n2, n3, ...)");
        }
        int copies;
        try {
            copies = Integer.parseInt(t.substring(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("raid10 layout '" + text + "' not understood (expected n2, n3, ...)");
        }
        if (copies < 1 || copies > 64) {
            throw new IllegalArgumentException("raid10 layout '" + text + "': copies must be 1 to 64");
        }
        return switch (t.charAt(0)) {
            case 'n' -> copies | (1 << 8);
            case 'f' -> 1 | (copies << 8);
            default -> 1 | (copies << 8) | (1 << 16);
        };
    }

    public static int nearCopies(int layout) {
        return layout & 0xff;
    }

    public static int farCopies(int layout) {
        return (layout >> 8) & 0xff;
    }

    public static boolean offsetLayout(int layout) {
        return (layout & 0x10000) != 0;
    }

    /** Copies of every block: near × far. */
    public static int copies(int layout) {
        return nearCopies(layout) * farCopies(layout);
    }

    /**
     * Why md would not run this layout on {@code raidDisks} devices (raid10.c {@code setup_geo} and
     * {@code setup_conf}), or null when it would. Layouts mdadm never writes are refused too: far
     * sets (layout bits 17 and up) and near and far copies together.
     */
    public static String check(int layout, int raidDisks) {
        if ((layout >>> 17) != 0) {
            return String.format("raid10 layout 0x%x uses far sets (bit 17 and up), which clustermd does not run", layout);
        }
        if (nearCopies(layout) > 1 && farCopies(layout) > 1) {
            return String.format("raid10 layout 0x%x has both near and far copies, which mdadm cannot create and"
                    + " clustermd does not run; use n2, f2 or o2", layout);
        }
        int copies = copies(layout);
        if (copies < 2 || copies > raidDisks) {
            return String.format("unsupported raid10 layout 0x%x on %d devices: md needs 2 to %d copies (near x far),"
                    + " this layout has %d", layout, raidDisks, raidDisks, copies);
        }
        return null;
    }

    /**
     * md's {@code raid10_size}: the array size for members of {@code componentBytes} each — whole
     * chunks per device, whole chunks per far region, times the devices, over the near copies.
     */
    public static long arrayBytes(int layout, int raidDisks, long chunkBytes, long componentBytes) {
        return componentBytes / chunkBytes / farCopies(layout) * raidDisks / nearCopies(layout) * chunkBytes;
    }

    /**
     * md's {@code calc_sectors}: the part of each member the layout uses ({@code dev_sectors}) — the
     * array's chunks times the copies, spread over the devices, rounded up to whole chunks. The
     * kernel writes it as the superblock's size when it runs the array.
     */
    public static long usedComponentBytes(int layout, int raidDisks, long chunkBytes, long componentBytes) {
        long arrayChunks = arrayBytes(layout, raidDisks, chunkBytes, componentBytes) / chunkBytes;
        return Math.ceilDiv(arrayChunks * copies(layout), raidDisks) * chunkBytes;
    }

    /** mdadm's spelling of the layout: n2, f2, o2. */
    public static String name(int layout) {
        int near = nearCopies(layout);
        int far = farCopies(layout);
        if (far == 1) {
            return "n" + near;
        }
        return (offsetLayout(layout) ? "o" : "f") + far;
    }

    public static boolean isNear(int layout) {
        return farCopies(layout) == 1 && !offsetLayout(layout) && (layout >>> 17) == 0;
    }

    /** mdadm's {@code print_r10_layout} text, e.g. " near=2". */
    public static String describe(int layout) {
        StringBuilder sb = new StringBuilder();
        String sep = "";
        int near = nearCopies(layout);
        int far = farCopies(layout);
        if (near != 1) {
            sb.append(sep).append(" near=").append(near);
            sep = ",";
        }
        if (far != 1) {
            sb.append(sep).append(' ').append(offsetLayout(layout) ? "offset" : "far").append('=').append(far);
        }
        if (near * far == 1) {
            sb.append("NO REDUNDANCY");
        }
        return sb.toString();
    }
}
