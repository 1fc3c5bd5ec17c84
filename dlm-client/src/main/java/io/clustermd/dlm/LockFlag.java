package io.clustermd.dlm;

/**
 * Request flags; the {@code LKF_*} flags of libdlm's {@code dlm_ls_lock} and {@code dlm_ls_unlock}
 * (kernel {@code DLM_LKF_*}). {@link #value()} is the bit libdlm uses. Not every backend has every
 * flag: {@link LockManager#supportedFlags()} says which; an unsupported flag is refused with an
 * {@link UnsupportedOperationException} when the request is made.
 */
public enum LockFlag {
    /** {@code LKF_NOQUEUE}: do not wait; complete with {@link LockStatus#NOT_GRANTED} (EAGAIN) instead. */
    NOQUEUE(0x1),
    /** {@code LKF_CONVERT}: convert the lock already held by this handle (required for every conversion). */
    CONVERT(0x4),
    /**
     * {@code LKF_VALBLK}: read or write the 32-byte lock value block: read on a new request and on
     * up-conversion, written on down-conversion from PW/EX and on unlock from PW/EX.
     */
    VALBLK(0x8),
    /** {@code LKF_QUECVT}: queue the conversion behind conversions already waiting, even if grantable. */
    QUECVT(0x10),
    /** {@code LKF_IVVALBLK}: mark the resource's LVB invalid (readers see VALNOTVALID). */
    IVVALBLK(0x20),
    /** {@code LKF_PERSISTENT}: the lock outlives the process as an orphan (libdlm only). */
    PERSISTENT(0x80),
    /** {@code LKF_EXPEDITE}: grant a new NL request ahead of every queued request (NL only). */
    EXPEDITE(0x400),
    /** {@code LKF_NOQUEUEBAST}: with NOQUEUE, still send blocking callbacks to the holders in the way. */
    NOQUEUEBAST(0x800),
    /** {@code LKF_ORPHAN}: adopt an orphaned PERSISTENT lock of the same name and mode (libdlm only). */
    ORPHAN(0x4000);

    private final int value;

    LockFlag(int value) {
        this.value = value;
    }

    /** The {@code LKF_*} bit. */
    public int value() {
        return value;
    }

    /** The libdlm flag word of a set of flags. */
    public static int bits(Iterable<LockFlag> flags) {
        int bits = 0;
        for (LockFlag f : flags) {
            bits |= f.value;
        }
        return bits;
    }
}
