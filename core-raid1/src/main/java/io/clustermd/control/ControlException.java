package io.clustermd.control;

/**
 * A management request the array refused (md returns -EBUSY, -EINVAL, -ENODEV ... from the ioctl or
 * sysfs write, and mdadm turns it into a sentence). The message is one line that says what is wrong
 * and what to do, e.g. "cannot remove /srv/a.img: it is an active member; fail it first with
 * 'clusterctl fail /srv/a.img'". It travels to clusterctl unchanged.
 */
public class ControlException extends Exception {

    private static final long serialVersionUID = 1L;

    public ControlException(String message) {
        super(oneLine(message));
    }

    public ControlException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** Newlines would break the one-line error contract of the protocol and of clusterctl's stderr. */
    static String oneLine(String message) {
        if (message == null || message.isBlank()) {
            throw new IllegalArgumentException("a ControlException needs a message that says what is wrong");
        }
        return message.strip().replaceAll("\\s*[\\r\\n]+\\s*", "; ");
    }
}
