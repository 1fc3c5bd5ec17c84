package io.clustermd.md.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.Raid10Layout;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides how members form an array, with md's assembly rules (md.c {@code super_1_validate},
 * mdadm Assemble.c): every member valid and of the same array; the freshest {@code events} is the
 * reference; a member more than one event behind is stale and left out until re-added; roles come
 * from the reference's {@code dev_roles}.
 */
public final class ArrayAssembler {

    private ArrayAssembler() {
    }

    public static AssemblyPlan plan(List<MemberMetadata> metadata) throws MdFormatException {
        if (metadata.isEmpty()) {
            throw new MdFormatException("no members given");
        }
        for (MemberMetadata m : metadata) {
            if (!m.valid()) {
                throw new MdFormatException(m.firstProblem() + "; the member cannot be used (fix or replace it,"
                        + " then add it with 'clusterctl add')");
            }
        }
        MemberMetadata first = metadata.get(0);
        String uuid = MdSuperblock.mdadmUuid(first.superblock().setUuid());
        for (MemberMetadata m : metadata) {
            String other = MdSuperblock.mdadmUuid(m.superblock().setUuid());
            if (!other.equals(uuid)) {
                throw new MdFormatException(String.format(
                        "%s belongs to array %s ('%s') but %s belongs to array %s ('%s'): members of different"
                                + " arrays cannot be assembled together", m.device(), other, m.superblock().name(),
                        first.device(), uuid, first.superblock().name()));
            }
        }
        Map<Integer, MemberMetadata> byDevNumber = new HashMap<>();
        for (MemberMetadata m : metadata) {
            MemberMetadata dup = byDevNumber.putIfAbsent(m.superblock().devNumber(), m);
            if (dup != null) {
                throw new MdFormatException(String.format(
                        "%s and %s both claim device number %d of array %s (a member was copied?); give only one",
                        dup.device(), m.device(), m.superblock().devNumber(), uuid));
            }
        }
        MemberMetadata freshest = metadata.stream()
                .max(Comparator.comparingLong((MemberMetadata m) -> m.superblock().events())).orElseThrow();
        MdSuperblock ref = freshest.superblock();
        if (ref.level() != 1 && ref.level() != 10) {
            throw new MdFormatException(freshest.device() + ": raid level " + ref.level()
                    + " is not supported (clustermd runs raid1 and raid10)");
        }
        List<AssemblyPlan.Planned> members = new ArrayList<>();
        List<AssemblyPlan.Planned> stale = new ArrayList<>();
        long componentBytes = ref.size() * 512;
        for (MemberMetadata m : metadata) {
            MdSuperblock sb = m.superblock();
            int devNumber = sb.devNumber();
            int role = devNumber < ref.maxDev() ? ref.devRole(devNumber) : MdSuperblock.ROLE_SPARE;
            if (sb.events() + 1 < ref.events()) {
                stale.add(new AssemblyPlan.Planned(m, MemberState.FAULTY, -1, 0));
                continue;
            }
            if (role == MdSuperblock.ROLE_FAULTY) {
                members.add(new AssemblyPlan.Planned(m, MemberState.FAULTY, -1, 0));
            } else if (role >= MdSuperblock.ROLE_MAX || role >= ref.raidDisks()) {
                members.add(new AssemblyPlan.Planned(m, MemberState.SPARE, -1, 0));
            } else if (sb.hasFeature(MdSuperblock.FEATURE_RECOVERY_OFFSET)) {
                members.add(new AssemblyPlan.Planned(m, MemberState.REBUILDING, role,
                        Math.min(sb.recoveryOffset() * 512, componentBytes)));
            } else {
                members.add(new AssemblyPlan.Planned(m, MemberState.IN_SYNC, role, componentBytes));
            }
        }
        Map<Integer, AssemblyPlan.Planned> slots = new HashMap<>();
        for (AssemblyPlan.Planned p : members) {
            if (p.slot() >= 0) {
                AssemblyPlan.Planned dup = slots.putIfAbsent(p.slot(), p);
                if (dup != null) {
                    throw new MdFormatException(String.format("%s and %s both hold slot %d", dup.metadata().device(),
                            p.metadata().device(), p.slot()));
                }
            }
        }
        boolean anyInSync = members.stream().anyMatch(p -> p.state() == MemberState.IN_SYNC);
        if (!anyInSync) {
            throw new MdFormatException("no in-sync member among those given: the array cannot start (give at least"
                    + " one member that is active and up to date"
                    + (stale.isEmpty() ? "" : "; stale: " + stale.stream().map(p -> p.metadata().device()).toList())
                    + ")");
        }
        if (ref.level() == 10) {
            String problem = Raid10Layout.check(ref.layout(), ref.raidDisks());
            if (problem != null) {
                throw new MdFormatException(freshest.device() + ": " + problem);
            }
            Set<Integer> inSync = new TreeSet<>();
            members.stream().filter(p -> p.state() == MemberState.IN_SYNC).forEach(p -> inSync.add(p.slot()));
            if (!MdArray.personalityOf(ref).enough(inSync::contains)) {
                // md raid10_run: "not enough operational mirrors"
                throw new MdFormatException(String.format("not enough operational mirrors: raid10 layout %s on %d"
                                + " devices has blocks with no copy on the in-sync members given (slots %s); give the"
                                + " missing members", Raid10Layout.name(ref.layout()), ref.raidDisks(), inSync));
            }
        }
        return new AssemblyPlan(ref.copy(), List.copyOf(members), List.copyOf(stale));
    }
}
