package io.clustermd.control;

/**
 * A line that is not a valid request or response: not JSON, not an object, an unknown {@code op}, a
 * missing field, or too long. The message is one line and is sent back as the error of the response.
 */
public class ControlProtocolException extends Exception {

    private static final long serialVersionUID = 1L;

    public ControlProtocolException(String message) {
        super(ControlException.oneLine(message));
    }
}
