package io.clustermd.md.array;

import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MdSuperblockCodec;
import io.clustermd.md.io.MemberDevice;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * Member changes another node of a cluster made, as md-cluster receives them:
 * {@code process_add_new_disk} (a NEWDISK: is the device visible here?), {@code process_remove_disk},
 * {@code process_readd_disk}, and {@code md_reload_sb}/{@code check_sb_changes} after
 * METADATA_UPDATED. No superblock is written here: the sender wrote them. All state changes happen
 * under the array's lock.
 */
public final class RemoteMemberChanges {

    private static final System.Logger LOG = System.getLogger(RemoteMemberChanges.class.getName());
    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);
    /** Looking for a device reads superblocks from files: never on the lock manager's thread. */
    private static final Executor LOCATE = r -> Thread.ofPlatform().name("md-locate").daemon().start(r);

    private final MdArray array;
    private volatile DeviceLocator locator = DeviceLocator.NONE;
    /** NEWDISK confirmed here and not yet in the superblocks: md's Candidate rdevs, by descriptor number. */
    private final Map<Integer, MemberDevice> candidates = new HashMap<>();   // guarded by array

    RemoteMemberChanges(MdArray array) {
        this.array = array;
    }

    /** How this node finds a member another node adds or brings back. */
    public void useLocator(DeviceLocator l) {
        this.locator = l == null ? DeviceLocator.NONE : l;
    }

    /** Descriptor numbers of the candidates (a local add must not take one). */
    Set<Integer> candidateNumbers() {
        synchronized (array) {
            return Set.copyOf(candidates.keySet());
        }
    }

    /**
     * NEWDISK from another node (md's {@code process_add_new_disk} and the udev confirmation): looks
     * for the device on this node's search paths. Found: it is opened and kept as a candidate until
     * the superblocks list it; completes with true (confirm). Not found: false (refuse).
     */
    public CompletableFuture<Boolean> newDiskCandidate(int devNumber, byte[] deviceUuid) {
        byte[] set = array.referenceCopy().setUuid();
        String uuid = MdSuperblock.mdadmUuid(deviceUuid);
        return CompletableFuture.supplyAsync(() -> {
            try {
                return locator.locate(set, devNumber, deviceUuid);
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "{0}: looking for new member {1}: {2}", array.name(), uuid,
                        e.getMessage());
                return null;
            }
        }, LOCATE).thenApply(device -> {
            if (device == null) {
                LOG.log(System.Logger.Level.WARNING, "{0}: another node adds a member with device UUID {1}, and no"
                        + " such device is on this node''s device search paths: refusing it", array.name(), uuid);
                return false;
            }
            MemberDevice old;
            synchronized (array) {
                old = candidates.put(devNumber, device);
            }
            if (old != null) {
                MemberChanges.close(old);
            }
            LOG.log(System.Logger.Level.INFO, "{0}: another node adds {1} (device UUID {2}): found here, confirmed",
                    array.name(), device.name(), uuid);
            return true;
        });
    }

    /** REMOVE from another node (md's {@code process_remove_disk}): the member goes here too. */
    public CompletableFuture<Void> removed(int devNumber) {
        List<MemberDevice> closing = new ArrayList<>();
        synchronized (array) {
            MemberDevice candidate = candidates.remove(devNumber);
            if (candidate != null) {
                closing.add(candidate);
            }
            for (ArrayMember m : List.copyOf(array.members)) {
                if (m.devNumber != devNumber) {
                    continue;
                }
                if (m.slot >= 0 && array.slots[m.slot] == m) {
                    array.slots[m.slot] = null;
                }
                m.state = MemberState.FAULTY;
                array.members.remove(m);
                closing.add(m.device);
                LOG.log(System.Logger.Level.INFO, "{0}: removed by another node", m.name());
            }
            array.refreshDegraded();
        }
        closing.forEach(MemberChanges::close);
        return DONE;
    }

    /**
     * RE_ADD from another node (md's {@code process_readd_disk}): the former member takes writes here
     * again from now on, in role {@code slot}, and is rebuilt from the bitmaps (by whichever node
     * gets the {@code resync} lock). Found among the faulty members, or on the search paths if this
     * node had removed it.
     */
    public CompletableFuture<Void> reAdded(int devNumber, int slot) {
        ArrayMember known = null;
        synchronized (array) {
            for (ArrayMember m : array.members) {
                if (m.devNumber == devNumber) {
                    known = m;
                }
            }
        }
        if (known != null && known.state != MemberState.FAULTY) {
            return DONE;
        }
        ArrayMember found = known;
        byte[] set = array.referenceCopy().setUuid();
        CompletableFuture<ArrayMember> member = found != null ? CompletableFuture.completedFuture(found)
                : CompletableFuture.supplyAsync(() -> {
                    try {
                        return locator.locate(set, devNumber, null);
                    } catch (IOException e) {
                        throw new CompletionException(e);
                    }
                }, LOCATE).thenCompose(device -> {
                    if (device == null) {
                        return CompletableFuture.failedFuture(new IllegalStateException("member " + devNumber
                                + " comes back on another node, and it is not on this node's device search paths"));
                    }
                    return readSuperblock(device).thenApply(sb -> {
                        if (sb == null) {
                            MemberChanges.close(device);
                            throw new IllegalStateException(device.name() + " has no readable superblock");
                        }
                        return new ArrayMember(device, sb, MemberState.FAULTY, -1, 0);
                    });
                });
        return member.thenAccept(m -> {
            synchronized (array) {
                int s = slot >= 0 && slot < array.slots.length && array.slots[slot] == null ? slot : MemberChanges.firstFreeSlot(array);
                if (!array.members.contains(m)) {
                    array.members.add(m);
                }
                m.stateEvents = array.reference.events();   // the superblocks until the sender's update say faulty
                if (s < 0) {
                    m.slot = -1;
                    m.state = MemberState.SPARE;
                } else {
                    m.slot = s;
                    m.recoveryOffset = 0;
                    m.bitmapRecovery = true;
                    m.state = MemberState.REBUILDING;
                    array.slots[s] = m;
                }
                array.refreshDegraded();
                LOG.log(System.Logger.Level.INFO, "{0}: re-added by another node in slot {1}; rebuilt from the"
                        + " bitmaps", m.name(), s);
            }
            array.sync().recoveryNeeded();
        });
    }

    /**
     * METADATA_UPDATED from another node, and the recovery's look before it starts (md's
     * {@code md_reload_sb} and {@code check_sb_changes}): reads the superblock of every member this
     * node uses (and of the candidates) and applies what the newest says:
     * <ul>
     *   <li>a member it calls faulty stops taking I/O here (no superblock write: the sender did it);</li>
     *   <li>a spare or candidate it gives a role is rebuilt there (from its {@code recovery_offset});</li>
     *   <li>a rebuilding member whose own superblock no longer has a {@code recovery_offset} is in sync;</li>
     *   <li>a candidate it does not list is dropped (the add was refused or failed);</li>
     *   <li>our event count catches up.</li>
     * </ul>
     * A member this node failed and nobody re-added stays failed here. Completes with the events read.
     */
    public CompletableFuture<Long> reload() {
        List<ArrayMember> readable = new ArrayList<>();
        Map<Integer, MemberDevice> pending;
        synchronized (array) {
            for (ArrayMember m : array.members) {
                if (m.state != MemberState.FAULTY) {
                    readable.add(m);
                }
            }
            pending = new HashMap<>(candidates);
        }
        Map<ArrayMember, CompletableFuture<MdSuperblock>> own = new HashMap<>();
        readable.forEach(m -> own.put(m, readSuperblock(m.device)));
        Map<Integer, CompletableFuture<MdSuperblock>> candidateSbs = new HashMap<>();
        pending.forEach((n, d) -> candidateSbs.put(n, readSuperblock(d)));
        List<CompletableFuture<MdSuperblock>> all = new ArrayList<>(own.values());
        all.addAll(candidateSbs.values());
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).thenCompose(v -> {
            // A size another node changed comes first: the roles below may need the new bitmap.
            MdSuperblock newest = newest(all);
            return newest == null ? DONE : array.sizeChange().followRemote(newest.size());
        }).thenApply(v -> {
            MdSuperblock newest = newest(all);
            if (newest == null) {
                return array.referenceCopy().events();
            }
            Map<ArrayMember, MdSuperblock> ownSbs = new HashMap<>();
            own.forEach((m, f) -> ownSbs.put(m, f.join()));
            Map<Integer, MdSuperblock> candSbs = new HashMap<>();
            candidateSbs.forEach((n, f) -> candSbs.put(n, f.join()));
            Applied applied = apply(newest, ownSbs, candSbs);
            applied.closing().forEach(MemberChanges::close);
            if (applied.rebuild()) {
                array.sync().recoveryNeeded();
            }
            if (applied.failed()) {
                array.sync().memberFailed();
            }
            return newest.events();
        });
    }

    private MdSuperblock newest(List<CompletableFuture<MdSuperblock>> reads) {
        byte[] set = array.referenceCopy().setUuid();
        MdSuperblock newest = null;
        for (CompletableFuture<MdSuperblock> f : reads) {
            MdSuperblock sb = f.join();
            if (sb != null && Arrays.equals(sb.setUuid(), set) && (newest == null || sb.events() > newest.events())) {
                newest = sb;
            }
        }
        return newest;
    }

    private record Applied(boolean rebuild, boolean failed, List<MemberDevice> closing) {
    }

    private Applied apply(MdSuperblock newest, Map<ArrayMember, MdSuperblock> ownSbs,
                          Map<Integer, MdSuperblock> candidateSbs) {
        boolean rebuild = false;
        boolean failed = false;
        List<MemberDevice> closing = new ArrayList<>();
        synchronized (array) {
            array.adoptEvents(newest.events());
            array.reference.devRoles(newest.devRoles());
            if (newest.raidDisks() != array.slots.length && newest.level() == 1) {
                // md's update_raid_disks: roles beyond the new count are emptied (their holders,
                // if any here, have not heard of their removal: they become spares)
                for (int s = newest.raidDisks(); s < array.slots.length; s++) {
                    ArrayMember held = array.slots[s];
                    if (held != null) {
                        held.slot = -1;
                        held.state = MemberState.SPARE;
                        array.slots[s] = null;
                    }
                }
                LOG.log(System.Logger.Level.INFO, "{0}: raid devices {1} -> {2} (changed by another node)",
                        array.name(), array.slots.length, newest.raidDisks());
                array.resizeSlotsLocked(newest.raidDisks());
            }
            for (ArrayMember m : List.copyOf(array.members)) {
                int role = roleOf(newest, m.devNumber);
                MdSuperblock sb = ownSbs.get(m);
                boolean fresh = sb != null && sb.events() == newest.events();
                if (role == MdSuperblock.ROLE_FAULTY && m.state != MemberState.FAULTY && newest.events() > m.stateEvents) {
                    if (m.slot >= 0 && array.slots[m.slot] == m) {
                        array.slots[m.slot] = null;
                    }
                    m.state = MemberState.FAULTY;
                    failed = true;
                    LOG.log(System.Logger.Level.ERROR, "{0}: marked faulty by another node; array continues degraded",
                            m.name());
                } else if (role < MdSuperblock.ROLE_MAX && m.state != MemberState.FAULTY) {
                    rebuild |= takeRole(m, role, fresh ? sb : null);
                }
            }
            for (Map.Entry<Integer, MemberDevice> c : Map.copyOf(candidates).entrySet()) {
                int n = c.getKey();
                int role = roleOf(newest, n);
                MdSuperblock sb = candidateSbs.get(n);
                candidates.remove(n);
                if (sb == null || sb.events() != newest.events() || role == MdSuperblock.ROLE_FAULTY
                        || n >= newest.maxDev()) {
                    closing.add(c.getValue());
                    LOG.log(System.Logger.Level.INFO, "{0}: the add of {1} did not happen; closed here", array.name(),
                            c.getValue().name());
                    continue;
                }
                ArrayMember m = new ArrayMember(c.getValue(), sb, MemberState.SPARE, -1, 0);
                array.members.add(m);
                if (role < MdSuperblock.ROLE_MAX) {
                    rebuild |= takeRole(m, role, sb.events() == newest.events() ? sb : null);
                }
                LOG.log(System.Logger.Level.INFO, "{0}: member added by another node ({1})", m.name(),
                        m.state == MemberState.SPARE ? "spare" : "slot " + m.slot);
            }
            array.refreshDegraded();
        }
        return new Applied(rebuild, failed, closing);
    }

    /**
     * A member the newest superblocks put in {@code role} (array lock held): a spare starts being
     * rebuilt there, a rebuilding member moves on to where its own superblock says, or is in sync
     * once that no longer carries a {@code recovery_offset}. True when a rebuild starts here.
     */
    private boolean takeRole(ArrayMember m, int role, MdSuperblock ownFresh) {
        if (role >= array.slots.length) {
            return false;
        }
        boolean recovering = ownFresh == null || ownFresh.hasFeature(MdSuperblock.FEATURE_RECOVERY_OFFSET);
        long offset = ownFresh != null && recovering ? Math.min(ownFresh.recoveryOffset() * 512,
                array.componentBytes()) : 0;
        if (m.slot != role) {
            if (array.slots[role] != null && array.slots[role] != m) {
                return false;   // the role's holder here has not heard of the change: leave it
            }
            if (m.slot >= 0 && array.slots[m.slot] == m) {
                array.slots[m.slot] = null;
            }
            m.slot = role;
            array.slots[role] = m;
        }
        switch (m.state) {
            case SPARE -> {
                m.recoveryOffset = offset;
                m.bitmapRecovery = false;
                m.state = recovering ? MemberState.REBUILDING : MemberState.IN_SYNC;
                LOG.log(System.Logger.Level.INFO, "{0}: another node put it in slot {1}{2}", m.name(), role,
                        recovering ? "; being rebuilt" : "");
                return recovering;
            }
            case REBUILDING -> {
                if (!recovering) {
                    m.state = MemberState.IN_SYNC;
                    m.recoveryOffset = array.componentBytes();
                    m.bitmapRecovery = false;
                    LOG.log(System.Logger.Level.INFO, "{0}: recovery complete (on another node), member in sync in"
                            + " slot {1}", m.name(), role);
                } else if (!m.bitmapRecovery) {
                    m.recoveryOffset = Math.max(m.recoveryOffset, offset);
                }
                return false;
            }
            default -> {
                return false;
            }
        }
    }

    private static int roleOf(MdSuperblock sb, int devNumber) {
        return devNumber < sb.maxDev() ? sb.devRole(devNumber) : MdSuperblock.ROLE_SPARE;
    }

    /** A member's own superblock, or null when it cannot be read or decoded. */
    static CompletableFuture<MdSuperblock> readSuperblock(MemberDevice device) {
        ByteBuffer buf;
        try {
            buf = device.allocate(Math.max(4096, device.alignment()));
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(null);
        }
        return device.read(buf, MdSuperblock.SUPER_OFFSET_1_2 * 512).thenApply(v -> {
            byte[] raw = new byte[4096];
            buf.duplicate().position(0).get(raw);
            return MdSuperblockCodec.decode(raw);
        }).exceptionally(e -> null);
    }
}
