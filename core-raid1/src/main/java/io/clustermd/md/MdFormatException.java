package io.clustermd.md;

/**
 * A member whose metadata md would refuse, or that does not fit the request. The message always
 * names the device, the field, what was found and what was expected, and says what to do.
 */
public class MdFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public MdFormatException(String message) {
        super(message);
    }

    public MdFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
