package io.clustermd.md.io;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.SaveError;

/**
 * The few libc calls the JDK lacks for member I/O, through jnr-ffi: {@code open} (a descriptor that
 * {@code fallocate} can use) and {@code fallocate} (punch hole / zero range, which is how both file systems and
 * block devices implement discard and write-zeroes since Linux 4.9). When jnr or libc cannot be loaded,
 * {@link #available()} is false and callers use their pure-Java fallback (writing zero blocks).
 */
final class NativeFileOps {
    /** {@code FALLOC_FL_KEEP_SIZE}. */
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    /** {@code FALLOC_FL_PUNCH_HOLE} (must be combined with KEEP_SIZE). */
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    /** {@code FALLOC_FL_ZERO_RANGE}. */
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    /** {@code EOPNOTSUPP} on Linux: the file system or device has no such fallocate mode. */
    static final int EOPNOTSUPP = 95;
    /** {@code EINTR}: retry. */
    static final int EINTR = 4;
    /** {@code EAGAIN}: retry. */
    static final int EAGAIN = 11;
    /** {@code O_DIRECT}: its value differs between architectures (asm-generic vs arm64). */
    static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0x10000 : 0x4000;

    /** The raw binding; names and types as in the C headers. */
    public interface LibC {
        @SaveError
        int open(String path, int flags);

        @SaveError
        int fallocate(int fd, int mode, long offset, long len);

        @SaveError
        int close(int fd);

        @SaveError
        int flock(int fd, int operation);

        String strerror(int errnum);
    }

    private static final LibC LIBC;
    private static final Runtime RUNTIME;

    static {
        LibC lib = null;
        Runtime rt = null;
        try {
            lib = LibraryLoader.create(LibC.class).load("c");
            rt = Runtime.getRuntime(lib);
        } catch (Throwable e) { // LinkageError, UnsatisfiedLinkError, jnr's own failures: fall back to Java
            lib = null;
            rt = null;
        }
        LIBC = lib;
        RUNTIME = rt;
    }

    private NativeFileOps() {
    }

    /** True if the libc binding loaded. */
    static boolean available() {
        return LIBC != null;
    }

    /** open(2); returns the descriptor or {@code -errno}. */
    static int open(String path, boolean readOnly) {
        int fd = LIBC.open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        return fd >= 0 ? fd : -RUNTIME.getLastError();
    }

    /** {@code LOCK_EX | LOCK_NB}: an exclusive flock(2) that fails instead of waiting. */
    static final int LOCK_EX_NB = 2 | 4;
    /** flock(2) LOCK_SH | LOCK_NB. */
    static final int LOCK_SH_NB = 1 | 4;
    /** {@code EWOULDBLOCK}: another open file description holds the flock. */
    static final int EWOULDBLOCK = 11;
    /** {@code EBUSY}: O_EXCL open of a block device that is mounted or claimed. */
    static final int EBUSY = 16;
    /** {@code O_EXCL}: on a block device, claim it (fails with EBUSY when mounted or claimed). */
    static final int O_EXCL = 0x80;

    /**
     * Opens {@code path} claiming it: block devices with O_EXCL (refused when mounted, in a kernel md array or
     * claimed by another exclusive opener), then an exclusive non-blocking flock(2) on the descriptor (refused
     * while another clustermd holds the member). The claim lasts until the descriptor is closed. Returns the
     * descriptor or {@code -errno} (EBUSY or EWOULDBLOCK when in use).
     */
    static int openClaimed(String path, boolean readOnly, boolean blockDevice) {
        return openClaimed(path, readOnly, blockDevice, false);
    }

    /** As above; {@code shared}: flock LOCK_SH and no O_EXCL, so every daemon of a clustered array can hold it. */
    static int openClaimed(String path, boolean readOnly, boolean blockDevice, boolean shared) {
        int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (blockDevice && !shared ? O_EXCL : 0);
        int fd = LIBC.open(path, flags);
        if (fd < 0) {
            return -RUNTIME.getLastError();
        }
        while (LIBC.flock(fd, shared ? LOCK_SH_NB : LOCK_EX_NB) != 0) {
            int errno = RUNTIME.getLastError();
            if (errno != EINTR) {
                LIBC.close(fd);
                return -errno;
            }
        }
        return fd;
    }

    /** open(2) with O_DIRECT; returns the descriptor or {@code -errno}. */
    static int openDirect(String path, boolean readOnly) {
        int fd = LIBC.open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_DIRECT);
        return fd >= 0 ? fd : -RUNTIME.getLastError();
    }

    /** fallocate(2), retried on EINTR; returns 0 or {@code -errno}. */
    static int fallocate(int fd, int mode, long offset, long length) {
        while (true) {
            int rc = LIBC.fallocate(fd, mode, offset, length);
            if (rc == 0) {
                return 0;
            }
            int errno = RUNTIME.getLastError();
            if (errno != EINTR) {
                return -errno;
            }
        }
    }

    static void close(int fd) {
        LIBC.close(fd);
    }

    /** The C library's text for an errno, as the JDK's own I/O exceptions carry it. */
    static String strerror(int errno) {
        return LIBC.strerror(errno);
    }
}
