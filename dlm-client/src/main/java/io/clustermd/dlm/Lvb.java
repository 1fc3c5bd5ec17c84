package io.clustermd.dlm;

/**
 * The lock value block of a userspace lockspace: always 32 bytes ({@code DLM_USER_LVB_LEN}).
 */
public final class Lvb {
    /** Length of every LVB, in bytes. */
    public static final int LENGTH = 32;

    private Lvb() {
    }

    /** Checks an LVB given by a caller and returns a private copy. */
    public static byte[] checked(byte[] value) {
        if (value == null) {
            throw new IllegalArgumentException("LVB must not be null (use new byte[" + LENGTH + "] for zeros)");
        }
        if (value.length != LENGTH) {
            throw new IllegalArgumentException("LVB must be exactly " + LENGTH + " bytes (DLM_USER_LVB_LEN), got "
                    + value.length + "; pad or encode the value into " + LENGTH + " bytes");
        }
        return value.clone();
    }
}
