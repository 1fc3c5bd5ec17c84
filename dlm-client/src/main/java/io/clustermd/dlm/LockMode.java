package io.clustermd.dlm;

/**
 * The six DLM lock modes, weakest first; libdlm's {@code LKM_NLMODE} .. {@code LKM_EXMODE}
 * (kernel {@code DLM_LOCK_NL} .. {@code DLM_LOCK_EX}). {@link #value()} is the number libdlm uses.
 *
 * <p>The compatibility matrix lives here, in one place, because every backend that enforces
 * the DLM rules itself (local, zookeeper) must agree on it bit for bit.
 */
public enum LockMode {
    /** Null: holds the resource (and its LVB) without blocking anybody. {@code LKM_NLMODE}. */
    NL(0),
    /** Concurrent read. {@code LKM_CRMODE}. */
    CR(1),
    /** Concurrent write. {@code LKM_CWMODE}. */
    CW(2),
    /** Protected read (shared). {@code LKM_PRMODE}. */
    PR(3),
    /** Protected write (update; readers with CR allowed). {@code LKM_PWMODE}. */
    PW(4),
    /** Exclusive. {@code LKM_EXMODE}. */
    EX(5);

    /*
     * Granted mode (row) vs requested mode (column), both in NL..EX order; fs/dlm/lock.c's
     * __dlm_compat_matrix without the IV/PD rows. true = may be granted at the same time.
     */
    private static final boolean[][] COMPATIBLE = {
            //        NL     CR     CW     PR     PW     EX
            /* NL */ {true, true, true, true, true, true},
            /* CR */ {true, true, true, true, true, false},
            /* CW */ {true, true, true, false, false, false},
            /* PR */ {true, true, false, true, false, false},
            /* PW */ {true, true, false, false, false, false},
            /* EX */ {true, false, false, false, false, false},
    };

    private final int value;

    LockMode(int value) {
        this.value = value;
    }

    /** The libdlm/kernel number of this mode (0 for NL .. 5 for EX). */
    public int value() {
        return value;
    }

    /** True if a lock granted in this mode allows another lock to be granted in {@code requested}. */
    public boolean compatibleWith(LockMode requested) {
        return COMPATIBLE[ordinal()][requested.ordinal()];
    }

    /** True if a conversion from this mode to {@code target} lowers the mode (EX→PR, PW→NL, ...). */
    public boolean isDownConversionTo(LockMode target) {
        return target.value < value;
    }

    /** The mode with the given libdlm number. */
    public static LockMode fromValue(int value) {
        if (value < 0 || value > 5) {
            throw new IllegalArgumentException("lock mode must be 0 (NL) .. 5 (EX), got " + value);
        }
        return values()[value];
    }
}
