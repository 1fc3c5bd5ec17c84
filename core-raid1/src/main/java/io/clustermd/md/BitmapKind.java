package io.clustermd.md;

/** The write-intent bitmap an array is created with (mdadm {@code --bitmap=}). */
public enum BitmapKind {
    /** Version-5 bitmap with one slot per node (md-cluster). */
    CLUSTERED,
    /** Version-4 internal bitmap (one node). */
    INTERNAL,
    /** No bitmap: every unclean stop means a full resync. */
    NONE;

    public static BitmapKind parse(String text) {
        return switch (text.toLowerCase(java.util.Locale.ROOT)) {
            case "clustered" -> CLUSTERED;
            case "internal" -> INTERNAL;
            case "none" -> NONE;
            default -> throw new IllegalArgumentException(
                    "unknown bitmap type '" + text + "' (expected clustered, internal or none)");
        };
    }
}
