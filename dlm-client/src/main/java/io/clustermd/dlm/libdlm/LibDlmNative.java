package io.clustermd.dlm.libdlm;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.byref.IntByReference;

/**
 * The jnr-ffi binding of libdlm ({@code libdlm.so.3}, Debian's libdlm3; header {@code libdlm.h}).
 * Only the calls the backend uses; {@code struct dlm_lksb} is handled as raw memory
 * ({@link #LKSB_SIZE} bytes: status @0, lkid @4, flags @8, lvbptr @16 on 64-bit).
 */
public interface LibDlmNative {
    /** sizeof(struct dlm_lksb) on LP64. */
    int LKSB_SIZE = 24;
    int LKSB_STATUS = 0;
    int LKSB_LKID = 4;
    int LKSB_FLAGS = 8;
    int LKSB_LVBPTR = 16;
    /** {@code DLM_SBF_VALNOTVALID}. */
    int SBF_VALNOTVALID = 0x02;
    /** {@code LKF_CANCEL}, for {@code dlm_ls_unlock}. */
    int LKF_CANCEL = 0x2;
    /** {@code LKF_CONVERT}. */
    int LKF_CONVERT = 0x4;
    /** sb_status of a cancelled request ({@code ECANCEL}). */
    int ECANCEL = 0x10001;
    /** sb_status of a completed unlock ({@code EUNLOCK}). */
    int EUNLOCK = 0x10002;

    /** A completion or blocking AST: {@code void (*)(void *astarg)}. */
    interface Ast {
        @Delegate
        void call(Pointer astarg);
    }

    @SaveError
    Pointer dlm_create_lockspace(String name, int mode);

    @SaveError
    Pointer dlm_open_lockspace(String name);

    @SaveError
    int dlm_release_lockspace(String name, Pointer ls, int force);

    @SaveError
    int dlm_ls_get_fd(Pointer ls);

    @SaveError
    int dlm_dispatch(int fd);

    @SaveError
    int dlm_ls_lock(Pointer ls, int mode, Pointer lksb, int flags, Pointer name, int namelen, int parent, Ast ast,
                    Pointer astarg, Ast bast, Pointer range);

    @SaveError
    int dlm_ls_unlock(Pointer ls, int lkid, int flags, Pointer lksb, Pointer astarg);

    int dlm_kernel_version(IntByReference major, IntByReference minor, IntByReference patch);

    int dlm_library_version(IntByReference major, IntByReference minor, IntByReference patch);

    /** libc {@code poll(2)}, to wait on the lockspace fd. */
    interface Libc {
        @SaveError
        int poll(Pointer fds, long nfds, int timeoutMs);

        String strerror(int errno);
    }

    /** Loads libdlm.so.3. */
    static LibDlmNative load() {
        return LibraryLoader.create(LibDlmNative.class).failImmediately().search("/usr/lib/x86_64-linux-gnu")
                .search("/usr/lib64").search("/usr/lib").load("libdlm.so.3");
    }

    /** Loads libc. */
    static Libc loadLibc() {
        return LibraryLoader.create(Libc.class).failImmediately().load("c");
    }
}
