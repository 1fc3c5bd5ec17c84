package io.clustermd.dlm.spi;

import java.nio.charset.StandardCharsets;

/** Name rules shared by every backend (the kernel's limits, so a name valid here is valid everywhere). */
public final class Names {
    /** {@code DLM_LOCKSPACE_LEN}. */
    public static final int MAX_LOCKSPACE_NAME = 64;
    /** {@code DLM_RESNAME_MAXLEN}. */
    public static final int MAX_RESOURCE_NAME = 64;

    private Names() {
    }

    /** Checks a lockspace name: 1..64 bytes of UTF-8, printable ASCII-safe for paths, no '/'. */
    public static String lockspace(String name) {
        check("lockspace", name, MAX_LOCKSPACE_NAME);
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '/' || c < 0x21 || c == 0x7f) {
                throw new IllegalArgumentException("lockspace name '" + name + "' has character 0x"
                        + Integer.toHexString(c) + " at " + i + "; use letters, digits, '-', '_', '.' or ':'");
            }
        }
        return name;
    }

    /** Checks a resource name: 1..64 bytes of UTF-8. */
    public static String resource(String name) {
        check("resource", name, MAX_RESOURCE_NAME);
        return name;
    }

    private static void check(String what, String name, int max) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException(what + " name must not be empty");
        }
        int len = name.getBytes(StandardCharsets.UTF_8).length;
        if (len > max) {
            throw new IllegalArgumentException(what + " name '" + name + "' is " + len + " bytes in UTF-8; the DLM allows at most "
                    + max + " (shorten it, e.g. hash the tail)");
        }
    }
}
