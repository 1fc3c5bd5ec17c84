package io.clustermd.control;

import java.util.Objects;

/**
 * The sync thread's progress ({@code sync_action}, {@code sync_completed}, {@code sync_speed} in sysfs;
 * the progress line of /proc/mdstat).
 *
 * @param action         what runs; {@link SyncAction#IDLE} when nothing does
 * @param doneSectors    sectors done ({@code sync_completed}'s first number)
 * @param totalSectors   sectors the action covers ({@code sync_completed}'s second number)
 * @param speedKibPerSec recent rate in KiB/s ({@code sync_speed})
 * @param finishSeconds  estimated seconds to completion; null to let the reader compute it from the speed
 * @param waiting        set when the action is needed but not running (PENDING, DELAYED, REMOTE)
 * @param waitingFor     what a running action has been waiting for longer than a second ("2 foreground
 *                       write(s) in flight in the sync window at byte 0"), or null; md shows nothing like it
 */
public record SyncStatus(
        SyncAction action,
        long doneSectors,
        long totalSectors,
        long speedKibPerSec,
        Long finishSeconds,
        SyncWait waiting,
        String waitingFor) {

    private static final SyncStatus IDLE = new SyncStatus(SyncAction.IDLE, 0, 0, 0, null, null);

    public SyncStatus {
        Objects.requireNonNull(action, "action");
        if (doneSectors < 0 || totalSectors < 0 || doneSectors > totalSectors) {
            throw new IllegalArgumentException("sync progress " + doneSectors + "/" + totalSectors
                    + " (expected: 0 <= done <= total)");
        }
    }

    /** Without a named wait. */
    public SyncStatus(SyncAction action, long doneSectors, long totalSectors, long speedKibPerSec, Long finishSeconds,
                      SyncWait waiting) {
        this(action, doneSectors, totalSectors, speedKibPerSec, finishSeconds, waiting, null);
    }

    public static SyncStatus idle() {
        return IDLE;
    }

    public static SyncStatus running(SyncAction action, long doneSectors, long totalSectors, long speedKibPerSec) {
        return new SyncStatus(action, doneSectors, totalSectors, speedKibPerSec, null, null);
    }

    public boolean isIdle() {
        return action == SyncAction.IDLE;
    }
}
