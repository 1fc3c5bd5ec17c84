package io.clustermd.md.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * Opens member paths for I/O after checking them the way mdadm checks a device name before it touches it: the
 * path exists, is a regular file or a block device, is readable and writable, is not empty and (for a block
 * device) is not set read-only. Every refusal is an {@link IOException} whose message names the path, says what
 * is wrong and what to do about it.
 */
public final class MemberDevices {
    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFDIR = 0040000;

    private MemberDevices() {
    }

    /**
     * Opens a member read-write: O_DIRECT when {@code direct} (the default everywhere, required in cluster mode),
     * else through the page cache; operations run on {@code executor}.
     */
    public static FileMemberDevice open(Path path, boolean direct, Executor executor) throws IOException {
        return open(path, FileMemberDevice.Options.DEFAULT.withDirect(direct), executor);
    }

    /**
     * Opens a member read-write as {@link #open(Path, boolean, Executor)} does, with aligned O_DIRECT transfers
     * from threads that {@code queue} serves submitted to it (see {@link FileMemberDevice}).
     */
    public static FileMemberDevice open(Path path, boolean direct, Executor executor, DirectIoQueue queue)
            throws IOException {
        return open(path, FileMemberDevice.Options.DEFAULT.withDirect(direct), executor, queue);
    }

    /** {@link #open(Path, boolean, Executor, DirectIoQueue)} with explicit options (a shared claim in cluster mode). */
    public static FileMemberDevice open(Path path, FileMemberDevice.Options options, Executor executor,
                                        DirectIoQueue queue) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(executor, "executor");
        check(path, options.readOnly());
        return FileMemberDevice.open(path, options, executor, queue);
    }

    /** Opens a member with explicit options (read-only skips the writability checks). */
    public static FileMemberDevice open(Path path, FileMemberDevice.Options options, Executor executor)
            throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(executor, "executor");
        check(path, options.readOnly());
        return FileMemberDevice.open(path, options, executor);
    }

    /** The checks of {@link #open}, without opening. */
    public static void check(Path path, boolean readOnly) throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode");
        } catch (NoSuchFileException e) {
            throw new IOException(path + ": no such file or device; give the path of a member file or disk"
                    + " (a file member can be made with 'truncate -s SIZE " + path + "')", e);
        }
        int type = mode & S_IFMT;
        if (type == S_IFDIR) {
            throw new IOException(path + ": is a directory; give a member file or a block device");
        }
        if (type == S_IFCHR) {
            throw new IOException(path + ": is a character device; members are regular files or block devices");
        }
        if (type != S_IFREG && type != S_IFBLK) {
            throw new IOException(path + ": is not a regular file or block device (a fifo or socket?);"
                    + " give a member file or disk");
        }
        if (!Files.isReadable(path)) {
            throw new IOException(path + ": not readable by this process; check its permissions (chmod/chown)"
                    + " or run as a user that can read it");
        }
        if (!readOnly) {
            if (!Files.isWritable(path)) {
                throw new IOException(path + ": not writable by this process (permissions, or a read-only"
                        + " mount); fix its permissions or remount read-write");
            }
            if (type == S_IFBLK && blockDeviceReadOnly(path)) {
                throw new IOException(path + ": the block device is read-only (blockdev --getro says 1);"
                        + " make it writable with 'blockdev --setrw " + path + "', or attach the loop device"
                        + " without -r");
            }
        }
        if (type == S_IFREG && Files.size(path) == 0) {
            throw new IOException(path + ": is empty; a member needs room for the superblock, the bitmap and the"
                    + " data (e.g. 'truncate -s 1G " + path + "')");
        }
    }

    /**
     * Refuses a member that another process has claimed (a running daemon, a mount, a kernel md array): the
     * claim {@link FileMemberDevice} takes, tried and released at once. Without the native binding, no check.
     */
    public static void checkNotClaimed(Path path) throws IOException {
        if (!NativeFileOps.available()) {
            return;
        }
        boolean blk = ((Integer) Files.getAttribute(path, "unix:mode") & S_IFMT) == S_IFBLK;
        int fd = NativeFileOps.openClaimed(path.toString(), true, blk);
        if (fd == -NativeFileOps.EWOULDBLOCK || fd == -NativeFileOps.EBUSY) {
            throw new IOException(FileMemberDevice.inUseMessage(path.toString(), blk));
        }
        if (fd >= 0) {
            NativeFileOps.close(fd);
        }
    }

    /** True if sysfs says the block device is read-only ({@code /sys/dev/block/MAJ:MIN/ro}, blockdev --getro). */
    static boolean blockDeviceReadOnly(Path path) throws IOException {
        Path ro = sysfs(path, "ro");
        return Files.exists(ro) && Files.readString(ro).trim().equals("1");
    }

    /** The block device's size in bytes from sysfs ({@code size} is in 512-byte sectors), 0 if unknown. */
    static long blockDeviceSize(Path path) throws IOException {
        Path size = sysfs(path, "size");
        return Files.exists(size) ? Long.parseLong(Files.readString(size).trim()) * 512 : 0;
    }

    private static Path sysfs(Path device, String attribute) throws IOException {
        long rdev = ((Number) Files.getAttribute(device, "unix:rdev")).longValue();
        return Path.of("/sys/dev/block/" + major(rdev) + ":" + minor(rdev) + "/" + attribute);
    }

    /**
     * The major and minor numbers of a block device (its {@code st_rdev}, the Major/Minor columns of mdadm
     * --detail); null for a regular file, anything else that is not a block device, or a path that cannot be
     * read.
     */
    public static int[] blockDeviceNumbers(Path path) {
        try {
            int mode = ((Number) Files.getAttribute(path, "unix:mode")).intValue();
            if ((mode & S_IFMT) != S_IFBLK) {
                return null;
            }
            long rdev = ((Number) Files.getAttribute(path, "unix:rdev")).longValue();
            return new int[] {(int) major(rdev), (int) minor(rdev)};
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return null;
        }
    }

    // glibc's major()/minor() encoding of dev_t
    private static long major(long rdev) {
        return ((rdev >>> 8) & 0xfffL) | ((rdev >>> 32) & ~0xfffL);
    }

    private static long minor(long rdev) {
        return (rdev & 0xffL) | ((rdev >>> 12) & ~0xffL);
    }
}
