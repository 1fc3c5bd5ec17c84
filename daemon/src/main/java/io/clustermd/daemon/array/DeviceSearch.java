package io.clustermd.daemon.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.array.DeviceLocator;
import io.clustermd.md.io.MemberDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Finds a member that another node adds, by the md superblock on it, in this node's device search
 * directories: what md-cluster leaves to a udev rule ({@code blkid -o device -t UUID_SUB=…}, then
 * {@code mdadm --cluster-confirm}). The directories are the {@code --device-path} ones, then those
 * of the current members, then {@code /dev/disk/by-id}; each is listed, not descended.
 */
public final class DeviceSearch implements DeviceLocator {

    private static final Logger log = LoggerFactory.getLogger(DeviceSearch.class);
    /** Stable names of every disk: where a shared LUN shows up on any node. */
    public static final Path BY_ID = Path.of("/dev/disk/by-id");

    private final List<Path> configured;
    private final Supplier<List<String>> members;
    private final ArrayControlAdapter.DeviceOpener opener;

    /**
     * @param configured the {@code --device-path} directories, searched first
     * @param members    the current members' paths (their directories are searched next)
     * @param opener     opens a found device as this node opens members
     */
    public DeviceSearch(List<Path> configured, Supplier<List<String>> members, ArrayControlAdapter.DeviceOpener opener) {
        this.configured = List.copyOf(configured);
        this.members = members;
        this.opener = opener;
    }

    /** The directories searched, in order. */
    public List<Path> directories() {
        Set<Path> dirs = new LinkedHashSet<>();
        configured.forEach(p -> dirs.add(p.toAbsolutePath().normalize()));
        for (String m : members.get()) {
            Path parent = Path.of(m).toAbsolutePath().normalize().getParent();
            if (parent != null) {
                dirs.add(parent);
            }
        }
        if (Files.isDirectory(BY_ID)) {
            dirs.add(BY_ID);
        }
        return new ArrayList<>(dirs);
    }

    @Override
    public MemberDevice locate(byte[] setUuid, int devNumber, byte[] deviceUuid) throws IOException {
        Path found = find(setUuid, devNumber, deviceUuid);
        if (found == null) {
            return null;
        }
        try {
            return opener.open(found);
        } catch (MdFormatException e) {
            throw new IOException(found + ": " + e.getMessage(), e);
        }
    }

    /** The path of the device, or null. */
    public Path find(byte[] setUuid, int devNumber, byte[] deviceUuid) {
        Set<Path> seen = new LinkedHashSet<>();
        for (Path dir : directories()) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                for (Path p : entries) {
                    Path real;
                    try {
                        real = p.toRealPath();
                    } catch (IOException e) {
                        continue;
                    }
                    if (!seen.add(real) || Files.isDirectory(real)) {
                        continue;
                    }
                    if (matches(p, setUuid, devNumber, deviceUuid)) {
                        log.info("member number {} of array {} found at {}", devNumber, MdSuperblock.mdadmUuid(setUuid), p);
                        return p;
                    }
                }
            } catch (IOException e) {
                log.debug("device search: cannot list {}: {}", dir, e.getMessage());
            }
        }
        return null;
    }

    private static boolean matches(Path p, byte[] setUuid, int devNumber, byte[] deviceUuid) {
        try {
            MdSuperblock sb = MemberMetadataReader.read(p).superblock();
            return Arrays.equals(sb.setUuid(), setUuid) && sb.devNumber() == devNumber
                    && (deviceUuid == null || Arrays.equals(sb.deviceUuid(), deviceUuid));
        } catch (IOException | MdFormatException | RuntimeException e) {
            return false;   // not an md member, or not readable by us: not the one
        }
    }
}
