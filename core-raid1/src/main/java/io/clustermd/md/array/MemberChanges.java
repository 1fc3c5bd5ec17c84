package io.clustermd.md.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MdSuperblockCodec;
import io.clustermd.md.io.MemberDevice;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.random.RandomGenerator;

/**
 * The members of a running array changing on this node: md's {@code hot_add_disk},
 * {@code hot_remove_disk}, re-add, {@code --grow --raid-devices} and {@code remove_and_add_spares}.
 * All state changes happen under the array's lock; superblock updates go through
 * {@link MdArray#updateSuperblocks(MemberChange, Runnable)}, so a change the other nodes of a cluster
 * must hear of first is sent with the token the update then uses. The same changes made by another
 * node arrive through {@link RemoteMemberChanges}.
 */
public final class MemberChanges {

    private static final System.Logger LOG = System.getLogger(MemberChanges.class.getName());
    private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

    private final MdArray array;
    private final RandomGenerator random;
    /** One member change at a time on this node (two adds must not pick the same descriptor number). */
    private final AtomicBoolean changing = new AtomicBoolean();

    MemberChanges(MdArray array, RandomGenerator random) {
        this.array = array;
        this.random = random;
    }

    // ------------------------------------------------------------------ this node's changes

    /** Marks a member faulty on request (clusterctl fail): md_error, then the superblocks. */
    CompletableFuture<Void> fail(String device) throws MdFormatException {
        ArrayMember m = find(device);
        synchronized (array) {
            if (m.state == MemberState.FAULTY) {
                throw new MdFormatException(device + " is already faulty");
            }
            if (m.state == MemberState.IN_SYNC && !array.canLose(m)) {
                throw new MdFormatException(device + " holds the last in-sync copy of some blocks: failing it would"
                        + " stop the array");
            }
        }
        return array.failMembers(List.of(m), "failed by the administrator");
    }

    /** Removes a faulty or spare member (clusterctl remove); on a cluster, REMOVE first. */
    CompletableFuture<Void> remove(String device) throws MdFormatException {
        ArrayMember m = find(device);
        synchronized (array) {
            if (m.state != MemberState.FAULTY && m.state != MemberState.SPARE) {
                throw new MdFormatException(device + " is " + describe(m.state)
                        + ": only faulty or spare members can be removed (fail it first)");
            }
        }
        beginChange();
        return array.updateSuperblocks(MemberChange.remove(m.devNumber), () -> {
            if (m.state != MemberState.FAULTY && m.state != MemberState.SPARE) {
                throw new IllegalStateException(device + " became " + describe(m.state) + " meanwhile; not removed");
            }
            array.members.remove(m);
        }).thenRun(() -> close(m.device)).whenComplete((v, e) -> changing.set(false));
    }

    /** The most mirror roles a raid1 takes here (md allows more; nobody mirrors a block 32 ways). */
    static final int MAX_RAID1_DEVICES = 32;

    /**
     * md's {@code --grow --raid-devices=N} on raid1: N roles. New roles are filled by spares, which
     * are rebuilt (md's remove_and_add_spares after raid1_reshape); without a spare the array is
     * degraded until one is added. Roles are given up only when empty. On a cluster the other nodes
     * follow the superblocks' raid_disks (md's {@code update_raid_disks} in check_sb_changes).
     */
    CompletableFuture<Void> growRaidDevices(int raidDevices) throws MdFormatException {
        synchronized (array) {
            MdSuperblock ref = array.reference;
            if (ref.level() != 1) {
                throw new MdFormatException("raid" + ref.level() + " cannot change its number of devices here"
                        + " (a raid10 reshape); only raid1 can grow --raid-devices");
            }
            if (raidDevices < 1 || raidDevices > MAX_RAID1_DEVICES) {
                throw new MdFormatException("--raid-devices must be 1.." + MAX_RAID1_DEVICES + ", got " + raidDevices);
            }
            String occupied = occupiedRole(raidDevices);
            if (occupied != null) {
                throw new MdFormatException(occupied);
            }
            if (raidDevices == array.slots.length) {
                return DONE;
            }
        }
        beginChange();
        boolean[] rebuild = {false};
        return array.updateSuperblocks(null, () -> {
            String occupied = occupiedRole(raidDevices);
            if (occupied != null) {
                throw new IllegalStateException(occupied);
            }
            int before = array.slots.length;
            array.resizeSlotsLocked(raidDevices);
            activateSparesLocked();
            array.refreshDegraded();
            for (ArrayMember m : array.members) {
                rebuild[0] |= m.state == MemberState.REBUILDING;
            }
            LOG.log(System.Logger.Level.INFO, "{0}: raid devices {1} -> {2}", array.name(), before, raidDevices);
        }).thenRun(() -> {
            if (rebuild[0]) {
                array.sync().recoveryNeeded();
            }
        }).whenComplete((v, e) -> changing.set(false));
    }

    /** Why the roles from {@code raidDevices} on cannot be given up, or null (array lock held). */
    private String occupiedRole(int raidDevices) {
        for (int s = raidDevices; s < array.slots.length; s++) {
            if (array.slots[s] != null) {
                return "cannot go down to " + raidDevices + " raid devices: " + array.slots[s].name() + " holds slot "
                        + s + " (fail and remove it first)";
            }
        }
        return null;
    }

    /** What an add will do, settled before the token is asked for. */
    private record Prepared(MemberDevice device, int devNumber, byte[] uuid, boolean reAdd, boolean bitmapOnly,
                            int slotHint, long dataSectors) {
    }

    /**
     * Adds an opened device as a new member (a spare, or rebuilt at once into a free role), or
     * brings a former member back ({@code reAdd}: rebuilt from the bitmap when it is recent enough).
     * On a cluster a new member first gets a superblock that names it (its {@code device_uuid}),
     * so every node can find it; NEWDISK then asks every node to confirm, and a refusal puts the
     * device back as it was.
     */
    CompletableFuture<Void> add(MemberDevice device, MdSuperblock existing, boolean reAdd) throws MdFormatException {
        beginChange();
        try {
            Prepared p = prepare(device, existing, reAdd);
            boolean clustered = array.cluster().clustered();
            ArrayMember[] added = new ArrayMember[1];
            MemberChange change = reAdd ? MemberChange.reAdd(p.devNumber(), p.slotHint())
                    : MemberChange.newDisk(p.devNumber(), p.uuid());
            boolean named = clustered && !reAdd;
            CompletableFuture<ByteBuffer> saved = named ? readHeader(device) : CompletableFuture.completedFuture(null);
            // A member that comes back takes this node's writes before RE_ADD goes out (md clears
            // Faulty before gather_bitmaps): whatever node rebuilds it then finds in our slot every
            // write of ours that missed it. A new member is added only once every node confirmed it.
            Runnable early = reAdd ? () -> added[0] = applyAdd(p) : () -> { };
            Runnable late = reAdd ? () -> { } : () -> added[0] = applyAdd(p);
            return saved.thenCompose(header -> (named ? writeProvisionalSuperblock(p) : DONE)
                            .thenCompose(v -> copyBitmapArea(device))
                            .thenRun(() -> {
                                synchronized (array) {
                                    early.run();
                                }
                            })
                            .thenCompose(v -> array.updateSuperblocks(change, late))
                            .handle((v, e) -> {
                                if (e == null) {
                                    return DONE;
                                }
                                CompletionException failure = explain(e, p);
                                if (reAdd && added[0] != null) {
                                    // the other nodes did not all hear of it: out again, as it was
                                    return array.failMembers(List.of(added[0]), "re-add not completed")
                                            .handle((x, y) -> CompletableFuture.<Void>failedFuture(failure))
                                            .thenCompose(x -> x);
                                }
                                if (header == null || added[0] != null) {
                                    return CompletableFuture.<Void>failedFuture(failure);
                                }
                                // Refused (or failed before the member existed): the device as it was.
                                return device.write(header.duplicate(), 0, true).handle((w, restoreError) -> {
                                    if (restoreError != null) {
                                        LOG.log(System.Logger.Level.WARNING, "{0}: could not put back its first {1}"
                                                + " bytes after the refused add: {2}", device.name(),
                                                header.remaining(), MdArray.rootMessage(restoreError));
                                    }
                                    throw failure;
                                });
                            })
                            .thenCompose(f -> f))
                    .thenRun(() -> {
                        if (added[0] != null && added[0].state == MemberState.REBUILDING) {
                            array.sync().recoveryNeeded();
                        }
                    })
                    .whenComplete((v, e) -> changing.set(false));
        } catch (MdFormatException | RuntimeException e) {
            changing.set(false);
            throw e;
        }
    }

    /** A refused add said for an operator: who cannot see the device, and what to do. */
    private static CompletionException explain(Throwable e, Prepared p) {
        Throwable c = e;
        while (c instanceof CompletionException && c.getCause() != null) {
            c = c.getCause();
        }
        if (c instanceof MemberChange.RefusedException refused) {
            return new CompletionException(new IllegalStateException("cannot add " + p.device().name() + ": "
                    + String.join(", ", refused.nodes()) + " cannot see it (no device with device UUID "
                    + MdSuperblock.mdadmUuid(p.uuid()) + " on its device search paths); make the device visible there,"
                    + " or start that node with --device-path DIR; nothing was changed", refused));
        }
        return e instanceof CompletionException ce ? ce : new CompletionException(e);
    }

    private Prepared prepare(MemberDevice device, MdSuperblock existing, boolean reAdd) throws MdFormatException {
        synchronized (array) {
            MdSuperblock reference = array.reference;
            for (ArrayMember m : array.members) {
                if (m.name().equals(device.name())) {
                    throw new MdFormatException(device.name() + " is already a member (" + describe(m.state) + ")");
                }
            }
            long needed = reference.dataOffset() * 512 + array.componentBytes();
            if (device.sizeBytes() < needed) {
                throw new MdFormatException(String.format("%s is too small: %d bytes, the array needs %d"
                        + " (data offset %d sectors + %d bytes of data)", device.name(), device.sizeBytes(), needed,
                        reference.dataOffset(), array.componentBytes()));
            }
            int freeSlot = firstFreeSlot();
            if (reAdd) {
                int devNumber = existing.devNumber();
                int wanted = devNumber < reference.maxDev() ? reference.devRole(devNumber) : MdSuperblock.ROLE_SPARE;
                if (wanted < array.slots.length && array.slots[wanted] == null) {
                    freeSlot = wanted;
                }
                // md super_1_validate: bitmap-based recovery when the member is not older than what
                // the bitmap has kept dirty since it left.
                boolean bitmapOnly = existing.events() >= array.bitmap().eventsCleared();
                return new Prepared(device, devNumber, existing.deviceUuid(), true, bitmapOnly, freeSlot,
                        device.sizeBytes() / 512 - reference.dataOffset());
            }
            byte[] uuid = new byte[16];
            random.nextBytes(uuid);
            return new Prepared(device, nextDevNumber(), uuid, false, false, freeSlot,
                    device.sizeBytes() / 512 - reference.dataOffset());
        }
    }

    /** Step 2 of the add's superblock update (array lock and token held). */
    private ArrayMember applyAdd(Prepared p) {
        for (ArrayMember m : array.members) {
            if (m.devNumber == p.devNumber() && m.state != MemberState.FAULTY) {
                throw new IllegalStateException("member number " + p.devNumber() + " was taken by "
                        + m.name() + " meanwhile (another node's add); try again");
            }
        }
        int slot = p.slotHint() >= 0 && array.slots[p.slotHint()] == null ? p.slotHint() : firstFreeSlot();
        MdSuperblock sb = array.reference.copy().devNumber(p.devNumber()).deviceUuid(p.uuid())
                .dataSize(p.dataSectors());
        MemberState state = slot >= 0 ? MemberState.REBUILDING : MemberState.SPARE;
        ArrayMember added = new ArrayMember(p.device(), sb, state, slot, 0);
        added.bitmapRecovery = p.bitmapOnly() && state == MemberState.REBUILDING;
        added.stateEvents = array.reference.events();
        array.members.removeIf(m -> m.devNumber == p.devNumber() && m.state == MemberState.FAULTY);
        array.members.add(added);
        if (slot >= 0) {
            array.slots[slot] = added;
        }
        array.refreshDegraded();
        LOG.log(System.Logger.Level.INFO, "{0}: added as {1}{2}", p.device().name(),
                state == MemberState.SPARE ? "spare" : "slot " + slot,
                added.bitmapRecovery ? " (bitmap-based recovery)" : state == MemberState.REBUILDING
                        ? " (full recovery)" : "");
        return added;
    }

    /**
     * md's {@code remove_and_add_spares} after a failure, in the failure's own superblock update:
     * a spare takes every role left empty and is rebuilt. Array lock held.
     */
    void activateSparesLocked() {
        for (int s = 0; s < array.slots.length; s++) {
            if (array.slots[s] != null) {
                continue;
            }
            ArrayMember spare = null;
            for (ArrayMember m : array.members) {
                if (m.state == MemberState.SPARE) {
                    spare = m;
                    break;
                }
            }
            if (spare == null) {
                return;
            }
            spare.slot = s;
            spare.recoveryOffset = 0;
            spare.bitmapRecovery = false;
            spare.state = MemberState.REBUILDING;
            array.slots[s] = spare;
            LOG.log(System.Logger.Level.WARNING, "{0}: spare takes over slot {1}; full recovery", spare.name(), s);
        }
    }

    private int firstFreeSlot() {
        return firstFreeSlot(array);
    }

    /** The first role nobody holds, or -1 (array lock held). */
    static int firstFreeSlot(MdArray array) {
        for (int s = 0; s < array.slots.length; s++) {
            if (array.slots[s] == null) {
                return s;
            }
        }
        return -1;
    }

    private int nextDevNumber() {
        int max = -1;
        for (ArrayMember m : array.members) {
            max = Math.max(max, m.devNumber);
        }
        for (int i = 0; i < array.reference.maxDev(); i++) {
            if (array.reference.devRole(i) != MdSuperblock.ROLE_SPARE) {
                max = Math.max(max, i);
            }
        }
        for (int n : array.remoteChanges().candidateNumbers()) {
            max = Math.max(max, n);
        }
        return max + 1;
    }

    /** The new member's metadata area as it is (put back if the add is refused). */
    private CompletableFuture<ByteBuffer> readHeader(MemberDevice device) {
        int bytes = (int) Math.min(device.sizeBytes(), array.referenceCopy().dataOffset() * 512);
        ByteBuffer buf = device.allocate(bytes);
        return device.read(buf, 0).thenApply(r -> buf.position(0).limit(bytes));
    }

    /**
     * A superblock that names the new member before NEWDISK (what {@code mdadm --add} writes
     * before asking the kernel): the array's, with the member's {@code dev_number} and
     * {@code device_uuid} and its role spare, and events 0.
     */
    private CompletableFuture<Void> writeProvisionalSuperblock(Prepared p) {
        MdSuperblock sb;
        synchronized (array) {
            sb = array.reference.copy();
        }
        int[] roles = Arrays.copyOf(sb.devRoles(), Math.max(sb.maxDev(), p.devNumber() + 1));
        for (int i = sb.maxDev(); i < roles.length; i++) {
            roles[i] = MdSuperblock.ROLE_SPARE;
        }
        // events 0: never mistaken for the array's current superblock; the member's real one, written
        // by the update that adds it, is what tells the other nodes the add happened.
        sb.devRoles(roles).devNumber(p.devNumber()).deviceUuid(p.uuid()).dataSize(p.dataSectors()).events(0);
        return p.device().write(MdArray.padToBlock(p.device(), MdSuperblockCodec.encode(sb)), MdSuperblock.SUPER_OFFSET_1_2 * 512,
                true);
    }

    /** The new member needs a valid bitmap area before it takes writes: copied from an in-sync member. */
    private CompletableFuture<Void> copyBitmapArea(MemberDevice target) {
        MdSuperblock reference = array.referenceCopy();
        if (!reference.hasFeature(MdSuperblock.FEATURE_BITMAP_OFFSET)) {
            return DONE;
        }
        ArrayMember source = array.firstInSync();
        long from = (reference.superOffset() + reference.bitmapOffset()) * 512;
        long bytes = reference.dataOffset() * 512 - from;
        ByteBuffer buf = source.device.allocate((int) bytes);
        return source.device.read(buf, from).thenCompose(v -> target.write(buf, from, true));
    }

    private ArrayMember find(String device) throws MdFormatException {
        synchronized (array) {
            for (ArrayMember m : array.members) {
                if (m.name().equals(device)) {
                    return m;
                }
            }
        }
        throw new MdFormatException(device + " is not a member of array " + array.name()
                + " (see 'clusterctl status')");
    }

    /** One member or size change at a time on this node; {@link #endChange} ends it. */
    void beginChange() throws MdFormatException {
        if (!changing.compareAndSet(false, true)) {
            throw new MdFormatException("another member change is under way on this node; try again when it is done");
        }
    }

    void endChange() {
        changing.set(false);
    }

    static void close(MemberDevice d) {
        try {
            d.close();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: close failed: {1}", d.name(), e.getMessage());
        }
    }

    static String describe(MemberState s) {
        return s.name().toLowerCase().replace('_', ' ');
    }
}
