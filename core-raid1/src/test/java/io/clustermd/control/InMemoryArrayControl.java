package io.clustermd.control;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A test twin of a running array: keeps md's management state (members, slots, sync action,
 * mismatch_cnt, events) in memory and changes it as md would for fail, remove, add, re-add, check,
 * repair and stop, with the same refusals. Sync progress moves only when a test calls
 * {@link #progress} (or, with {@link #autoProgress}, on every {@link #status()}), so tests decide
 * what each status shows.
 */
public final class InMemoryArrayControl implements ArrayControl {

    private final String name;
    private final String level;
    private final Integer layout;
    private final Integer chunkKib;
    private int raidDisks;
    private final long componentKib;
    private final BitmapStatus bitmap;
    private final List<MemberStatus> members = new ArrayList<>();
    /** Former members by path, with the slot they held: what re-add accepts (their superblock names it). */
    private final Map<String, Integer> formerSlots = new TreeMap<>();
    private SyncStatus sync = SyncStatus.idle();
    private long mismatchCount;
    private long mismatchesToFind;
    private long events = 18;
    private long updateTime = 1_795_013_319L;
    private boolean clean = true;
    private boolean stopped;
    private long autoProgressSectors;
    private long autoSpeed;
    private int statusCalls;

    private InMemoryArrayControl(String name, String level, Integer layout, Integer chunkKib, int raidDisks,
                                 long componentKib, BitmapStatus bitmap, List<String> paths) {
        this.name = name;
        this.level = level;
        this.layout = layout;
        this.chunkKib = chunkKib;
        this.raidDisks = raidDisks;
        this.componentKib = componentKib;
        this.bitmap = bitmap;
        for (int i = 0; i < paths.size(); i++) {
            if (i < raidDisks) {
                members.add(MemberStatus.inSync(paths.get(i), i, i, deviceUuid(i)));
            } else {
                members.add(new MemberStatus(paths.get(i), i, null, MemberState.SPARE, null, deviceUuid(i), null, null));
            }
        }
    }

    /** A healthy RAID1 of {@code paths.length} members, 64 MiB chunks, one bitmap page (as the references). */
    public static InMemoryArrayControl raid1(String name, long componentKib, String... paths) {
        return new InMemoryArrayControl(name, "raid1", null, null, paths.length, componentKib,
                defaultBitmap(componentKib), List.of(paths));
    }

    /** A RAID1 with {@code raidDisks} slots; members beyond them are spares. */
    public static InMemoryArrayControl raid1WithSpares(String name, long componentKib, int raidDisks, String... paths) {
        return new InMemoryArrayControl(name, "raid1", null, null, raidDisks, componentKib,
                defaultBitmap(componentKib), List.of(paths));
    }

    /** A near-2 RAID10 with 512K chunks. */
    public static InMemoryArrayControl raid10(String name, long componentKib, String... paths) {
        return new InMemoryArrayControl(name, "raid10", 0x102, 512, paths.length, componentKib,
                defaultBitmap(componentKib), List.of(paths));
    }

    /** A RAID1 created with {@code --bitmap=none}. */
    public static InMemoryArrayControl raid1NoBitmap(String name, long componentKib, String... paths) {
        return new InMemoryArrayControl(name, "raid1", null, null, paths.length, componentKib, null, List.of(paths));
    }

    private static BitmapStatus defaultBitmap(long componentKib) {
        long chunk = 64L << 20;
        long chunks = (componentKib * 1024 + chunk - 1) / chunk;
        long pages = BitmapStatus.pagesFor(chunks);
        return new BitmapStatus(chunk, pages, pages, chunks, 0, 5);
    }

    private static String deviceUuid(int i) {
        return String.format("%08x:1c2d3e4f:5a6b7c8d:9e0f%04x", 0x0a1b2c3d + i, i);
    }

    // ---- knobs for tests ----

    /** Starts a resync as after an unclean stop or a create without --assume-clean. */
    public synchronized InMemoryArrayControl startResync(long doneSectors, long speedKib) {
        sync = new SyncStatus(SyncAction.RESYNC, doneSectors, componentKib * 2, speedKib, null, null);
        clean = false;
        return this;
    }

    /** Marks the needed resync as waiting (PENDING/DELAYED/REMOTE). */
    public synchronized InMemoryArrayControl waiting(SyncWait why) {
        sync = new SyncStatus(sync.isIdle() ? SyncAction.RESYNC : sync.action(), sync.doneSectors(),
                sync.isIdle() ? componentKib * 2 : sync.totalSectors(), 0, null, why);
        return this;
    }

    /** The mismatches the next check or repair will count when it completes. */
    public synchronized InMemoryArrayControl mismatchesToFind(long sectors) {
        mismatchesToFind = sectors;
        return this;
    }

    /** Advances the running sync action by {@code sectors} at {@code speedKib}; completes it at the end. */
    public synchronized void progress(long sectors, long speedKib) {
        if (sync.isIdle() || sync.waiting() != null) {
            return;
        }
        long done = Math.min(sync.totalSectors(), sync.doneSectors() + sectors);
        if (sync.action() == SyncAction.CHECK || sync.action() == SyncAction.REPAIR) {
            mismatchCount = mismatchesToFind * done / Math.max(1, sync.totalSectors());
        }
        if (done == sync.totalSectors()) {
            finishSync();
            return;
        }
        sync = new SyncStatus(sync.action(), done, sync.totalSectors(), speedKib, null, null);
        if (sync.action() == SyncAction.RECOVER) {
            replaceRebuilding(m -> m.withState(MemberState.REBUILDING, m.slot(), done));
        }
    }

    /** Every status() call advances the running action by {@code sectors} (for watch loops). */
    public synchronized InMemoryArrayControl autoProgress(long sectors, long speedKib) {
        autoProgressSectors = sectors;
        autoSpeed = speedKib;
        return this;
    }

    public synchronized int statusCalls() {
        return statusCalls;
    }

    public synchronized boolean stopped() {
        return stopped;
    }

    private void finishSync() {
        if (sync.action() == SyncAction.RECOVER) {
            replaceRebuilding(m -> m.withState(MemberState.IN_SYNC, m.slot(), null));
        }
        if (sync.action() == SyncAction.CHECK || sync.action() == SyncAction.REPAIR) {
            mismatchCount = mismatchesToFind;
        }
        sync = SyncStatus.idle();
        clean = true;
        events++;
    }

    private void replaceRebuilding(java.util.function.UnaryOperator<MemberStatus> f) {
        members.replaceAll(m -> m.state() == MemberState.REBUILDING ? f.apply(m) : m);
    }

    // ---- ArrayControl ----

    @Override
    public synchronized ArrayStatus status() {
        statusCalls++;
        ArrayStatus s = snapshot();
        if (autoProgressSectors > 0) {
            progress(autoProgressSectors, autoSpeed);
        }
        return s;
    }

    private ArrayStatus snapshot() {
        BitmapStatus b = bitmap;
        if (b != null && !sync.isIdle()) {
            b = new BitmapStatus(b.chunkBytes(), b.pagesTotal(), b.pagesInMemory(), b.chunks(), b.chunks(),
                    b.daemonSleepSeconds());
        }
        long arrayKib = level.equals("raid10") ? componentKib * raidDisks / 2 : componentKib;
        return new ArrayStatus(name, "labhost:" + name, "3e8d63ce:b86fbf25:30a03b41:2d523197", level, layout,
                chunkKib, raidDisks, arrayKib, componentKib,
                ArrayState.derive(clean, raidDisks, members, sync), false, events, 1_795_013_317L, updateTime,
                b, members, sync, mismatchCount, null);
    }

    @Override
    public synchronized void fail(String member) throws ControlException {
        MemberStatus m = find(member);
        if (m.state() == MemberState.FAULTY) {
            throw new ControlException(member + " is already faulty in " + name
                    + "; remove it with 'clusterctl remove " + member + "'");
        }
        long inSync = members.stream().filter(x -> x.state() == MemberState.IN_SYNC).count();
        if (m.state() == MemberState.IN_SYNC && inSync == 1) {
            throw new ControlException("cannot fail " + member + ": it is the last in-sync member of " + name
                    + " (md keeps the last working device); add another member first");
        }
        if (m.state() == MemberState.REBUILDING) {
            sync = SyncStatus.idle();
        }
        if (m.slot() != null) {
            formerSlots.put(m.path(), m.slot());
        }
        replace(m, m.withState(MemberState.FAULTY, null, null));
        events++;
    }

    @Override
    public synchronized void remove(String member) throws ControlException {
        MemberStatus m = find(member);
        if (m.state() == MemberState.IN_SYNC || m.state() == MemberState.REBUILDING) {
            throw new ControlException("cannot remove " + member + ": it is an active member of " + name
                    + "; fail it first with 'clusterctl fail " + member + "'");
        }
        members.remove(m);
        events++;
    }

    @Override
    public synchronized void add(String member) throws ControlException {
        checkRunning();
        if (members.stream().anyMatch(x -> x.path().equals(member))) {
            throw new ControlException(member + " is already a member of " + name);
        }
        int dev = members.stream().mapToInt(MemberStatus::devNumber).max().orElse(-1) + 1;
        Integer free = freeSlot();
        if (free != null && sync.isIdle()) {
            members.add(new MemberStatus(member, dev, free, MemberState.REBUILDING, 0L, deviceUuid(dev), null, null));
            sync = new SyncStatus(SyncAction.RECOVER, 0, componentKib * 2, 0, null, null);
        } else {
            members.add(new MemberStatus(member, dev, null, MemberState.SPARE, null, deviceUuid(dev), null, null));
        }
        events++;
    }

    @Override
    public synchronized void growSize(long bytes, boolean force) throws ControlException {
        checkRunning();
        throw new ControlException("the in-memory array has no size to change");
    }

    @Override
    public synchronized void growRaidDevices(int n) throws ControlException {
        checkRunning();
        for (MemberStatus m : members) {
            if (m.slot() != null && m.slot() >= n) {
                throw new ControlException("cannot shrink to " + n + " raid devices: " + m.path() + " holds slot "
                        + m.slot());
            }
        }
        raidDisks = n;
        events++;
    }

    @Override
    public synchronized void reAdd(String member) throws ControlException {
        checkRunning();
        Integer slot = formerSlots.get(member);
        if (members.stream().anyMatch(x -> x.path().equals(member) && x.state() == MemberState.FAULTY)) {
            throw new ControlException("cannot re-add " + member + ": it is still a faulty member of " + name
                    + "; remove it first with 'clusterctl remove " + member + "'");
        }
        if (members.stream().anyMatch(x -> x.path().equals(member))) {
            throw new ControlException(member + " is already a member of " + name);
        }
        if (slot == null) {
            throw new ControlException("cannot re-add " + member + ": it was never a member of " + name
                    + "; use 'clusterctl add " + member + "'");
        }
        if (members.stream().anyMatch(x -> slot.equals(x.slot()))) {
            throw new ControlException("cannot re-add " + member + ": its slot " + slot + " is taken; use 'clusterctl add "
                    + member + "'");
        }
        int dev = members.stream().mapToInt(MemberStatus::devNumber).max().orElse(-1) + 1;
        members.add(new MemberStatus(member, dev, slot, MemberState.REBUILDING, 0L, deviceUuid(dev), null, null));
        // bitmap-based recovery covers only the chunks dirtied meanwhile: here, half of the member
        sync = new SyncStatus(SyncAction.RECOVER, 0, componentKib, 0, null, null);
        events++;
    }

    @Override
    public synchronized void check() throws ControlException {
        startRequested(SyncAction.CHECK);
    }

    @Override
    public synchronized void repair() throws ControlException {
        startRequested(SyncAction.REPAIR);
    }

    @Override
    public synchronized void stop() throws ControlException {
        checkRunning();
        stopped = true;
    }

    private void startRequested(SyncAction action) throws ControlException {
        checkRunning();
        if (!sync.isIdle()) {
            throw new ControlException("cannot start " + action.name().toLowerCase() + " on " + name + ": "
                    + sync.action().name().toLowerCase() + " is running; wait for it ('clusterctl status --watch')");
        }
        if (members.stream().filter(x -> x.state() == MemberState.IN_SYNC).count() < 2) {
            throw new ControlException("cannot " + action.name().toLowerCase() + " " + name
                    + ": it needs two in-sync members to compare");
        }
        mismatchCount = 0;
        sync = new SyncStatus(action, 0, componentKib * 2, 0, null, null);
    }

    private Integer freeSlot() {
        for (int s = 0; s < raidDisks; s++) {
            int slot = s;
            if (members.stream().noneMatch(x -> x.slot() != null && x.slot() == slot)) {
                return slot;
            }
        }
        return null;
    }

    private void checkRunning() throws ControlException {
        if (stopped) {
            throw new ControlException("array " + name + " is stopped");
        }
    }

    private MemberStatus find(String member) throws ControlException {
        checkRunning();
        for (MemberStatus m : members) {
            if (m.path().equals(member)) {
                return m;
            }
        }
        throw new ControlException(member + " is not a member of " + name + " (members: "
                + String.join(", ", members.stream().map(MemberStatus::path).toList()) + ")");
    }

    private void replace(MemberStatus old, MemberStatus now) {
        members.set(members.indexOf(old), now);
    }
}
