package io.clustermd.dlm;

/**
 * Blocking callback: libdlm's {@code bast} argument of {@code dlm_ls_lock}. Called on the
 * lockspace's event thread when another lock request waits for this lock's mode to be released
 * or lowered. It is a hint: the holder decides whether and when to convert or unlock. It is sent
 * once per blocking situation (kernel {@code lkb_highbast}): again only for a stronger mode, or
 * after this lock was granted anew.
 */
@FunctionalInterface
public interface BlockingCallback {
    /** No-op callback, for locks that never give way on request. */
    BlockingCallback NONE = (lock, mode) -> { };

    /**
     * @param lock the lock that is in the way
     * @param requestedMode the mode the blocked request wants, or {@code null} where the backend
     *     cannot tell (libdlm does not pass the kernel's {@code bast_mode} to the callback)
     */
    void blocking(LockHandle lock, LockMode requestedMode);
}
