package io.clustermd.md.array;

import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;

import java.util.List;

/**
 * The outcome of examining the members given to {@code clustermd run}: which superblock is the
 * reference (freshest events), and what each member is.
 *
 * @param reference the freshest member's superblock: the array's identity and geometry
 * @param members   members that take part, with their state
 * @param stale     members left out because their events are too old (they need re-add)
 */
public record AssemblyPlan(MdSuperblock reference, List<Planned> members, List<Planned> stale) {

    /**
     * One member.
     *
     * @param metadata       what it carries
     * @param state          its state in the array
     * @param slot           raid slot (role) when IN_SYNC or REBUILDING, else -1
     * @param recoveryOffset bytes of the component already rebuilt (REBUILDING), else component size
     */
    public record Planned(MemberMetadata metadata, MemberState state, int slot, long recoveryOffset) {
    }
}
