package io.clustermd.md.array;

import java.util.Optional;

/**
 * Where the position of a running check or repair is kept across a crash. md keeps none (after a
 * crash a check is simply gone, and its {@code sync_min} must be set by hand to continue); the
 * superblock has no field for it, so the daemon keeps it beside its sockets. Resync and recovery
 * need no store: their checkpoints are md's own, on the members (the bitmap, {@code resync_offset},
 * {@code recovery_offset}).
 */
public interface SyncCheckpointStore {

    /** A check or repair that had reached {@code positionBytes} and counted {@code mismatches} sectors. */
    record Saved(SyncEngine.Action action, long positionBytes, long mismatches) {
    }

    /** What was saved last, if anything. */
    Optional<Saved> load();

    /** Replaces what is saved; a failure is reported by the store, never thrown. */
    void save(Saved saved);

    /** The action finished: nothing to resume. */
    void clear();

    /** Keeps nothing (tests, embedded arrays). */
    SyncCheckpointStore NONE = new SyncCheckpointStore() {
        @Override
        public Optional<Saved> load() {
            return Optional.empty();
        }

        @Override
        public void save(Saved saved) {
        }

        @Override
        public void clear() {
        }
    };
}
