package io.clustermd.control;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.ArrayList;
import java.util.List;

/**
 * The words of {@code mdadm --detail}'s "State" line. The first is md's {@code array_state}
 * (clean: no write in flight and the superblock says so; active: writes outstanding), then
 * degraded/FAILED from the member count, then the running sync action.
 */
public enum ArrayState {
    @JsonProperty("clean") CLEAN("clean"),
    @JsonProperty("active") ACTIVE("active"),
    @JsonProperty("degraded") DEGRADED("degraded"),
    /** Fewer in-sync members than the personality needs to serve data (raid1: none). */
    @JsonProperty("failed") FAILED("FAILED"),
    @JsonProperty("resyncing") RESYNCING("resyncing"),
    @JsonProperty("recovering") RECOVERING("recovering"),
    @JsonProperty("checking") CHECKING("checking");

    private final String mdadmWord;

    ArrayState(String mdadmWord) {
        this.mdadmWord = mdadmWord;
    }

    /** The word as mdadm prints it ("FAILED" is upper case there). */
    public String mdadmWord() {
        return mdadmWord;
    }

    /**
     * The state words mdadm would print: clean or active, ", degraded" when a slot has no in-sync
     * member, ", FAILED" when none has, then the sync action, running or waiting (PENDING, DELAYED,
     * REMOTE). A repair shows as "resyncing" because
     * md sets MD_RECOVERY_SYNC without MD_RECOVERY_CHECK for it, which is what mdadm reads.
     */
    public static List<ArrayState> derive(boolean clean, int raidDisks, List<MemberStatus> members, SyncStatus sync) {
        List<ArrayState> words = new ArrayList<>();
        words.add(clean ? CLEAN : ACTIVE);
        long inSync = members.stream().filter(m -> m.state() == MemberState.IN_SYNC).count();
        if (inSync == 0) {
            words.add(DEGRADED);
            words.add(FAILED);
        } else if (inSync < raidDisks) {
            words.add(DEGRADED);
        }
        // A waiting action still shows, as mdadm prints "resyncing (PENDING)" for it.
        if (sync != null) {
            switch (sync.action()) {
                case RESYNC, REPAIR -> words.add(RESYNCING);
                case RECOVER -> words.add(RECOVERING);
                case CHECK -> words.add(CHECKING);
                case IDLE -> { }
            }
        }
        return List.copyOf(words);
    }
}
