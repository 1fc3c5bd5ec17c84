package io.clustermd.md;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/** Facts about member paths without opening them: block device or not, identity. */
public final class MemberPaths {

    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;

    private MemberPaths() {
    }

    /** True for a block device (following symlinks such as /dev/disk/by-id/...). */
    public static boolean isBlockDevice(Path path) {
        try {
            Object mode = Files.getAttribute(path, "unix:mode");
            return mode instanceof Integer m && (m & S_IFMT) == S_IFBLK;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    /** A key equal for two paths that name the same file or device (inode, or device number). */
    public static Object identity(Path path) throws IOException {
        if (isBlockDevice(path)) {
            return "blk:" + Files.getAttribute(path, "unix:rdev");
        }
        Object key = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        return key != null ? key : path.toRealPath(LinkOption.NOFOLLOW_LINKS);
    }
}
