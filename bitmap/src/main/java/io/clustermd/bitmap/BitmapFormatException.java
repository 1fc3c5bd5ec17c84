package io.clustermd.bitmap;

/**
 * A bitmap superblock or slot that md would refuse. The message names the device, the slot,
 * the field, what was found and what was expected.
 */
public final class BitmapFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public BitmapFormatException(String message) {
        super(message);
    }
}
