package io.clustermd.daemon.array;

import io.clustermd.md.array.SyncCheckpointStore;
import io.clustermd.md.array.SyncEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Keeps the position of a running check or repair in a small file beside the daemon's sockets
 * ({@code RUN_DIR/NAME.sync}): one line {@code UUID ACTION POSITION_BYTES MISMATCH_SECTORS},
 * replaced atomically (written aside, then renamed). A file of another array (another UUID) or
 * one that does not parse is ignored.
 */
public final class FileSyncCheckpointStore implements SyncCheckpointStore {

    private static final Logger log = LoggerFactory.getLogger(FileSyncCheckpointStore.class);

    private final Path file;
    private final String arrayUuid;

    public FileSyncCheckpointStore(Path file, String arrayUuid) {
        this.file = file;
        this.arrayUuid = arrayUuid;
    }

    @Override
    public Optional<Saved> load() {
        try {
            String[] f = Files.readString(file).trim().split(" ");
            if (f.length != 4 || !f[0].equals(arrayUuid)) {
                return Optional.empty();
            }
            return Optional.of(new Saved(SyncEngine.Action.valueOf(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3])));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | IllegalArgumentException e) {
            log.warn("{}: ignored ({})", file, e.getMessage());
            return Optional.empty();
        }
    }

    @Override
    public void save(Saved saved) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, arrayUuid + " " + saved.action().name() + " " + saved.positionBytes() + " "
                    + saved.mismatches() + "\n");
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn("{}: cannot save the {} position: {}", file, saved.action().name().toLowerCase(), e.getMessage());
        }
    }

    @Override
    public void clear() {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            log.warn("{}: cannot remove: {}", file, e.getMessage());
        }
    }
}
