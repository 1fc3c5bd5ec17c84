package io.clustermd.md.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MdSuperblockCodec;
import io.clustermd.md.Raid10Layout;
import io.clustermd.md.io.MemberDevice;

import java.nio.ByteBuffer;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;

/**
 * A running array: md's {@code struct mddev} with the raid1/raid10 request paths. Requests arrive
 * from any thread and never block it: every step returns a future. State changes (member failure,
 * add, remove) happen under this object's lock and are followed by a superblock update that is
 * durable before the request that caused it completes.
 *
 * <p>Writes, write-zeroes and trims take the {@link WritePath} (md raid1_write_request): ordered
 * behind earlier overlapping writes of this node, then the suspend list, the resync barrier, the
 * bitmap, every copy in parallel.
 */
public final class MdArray implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(MdArray.class.getName());
    /** md's max_corr_read_errors: corrected read errors tolerated before a member is failed. */
    static final int MAX_CORRECTED_READ_ERRORS = 20;

    private final String name;
    /** The array's superblock as this node last wrote or read it; guarded by this. */
    final MdSuperblock reference;
    /** Replaced (with {@link #slots}) when raid_disks changes; read without the lock. */
    private volatile Personality personality;
    private final BitmapOps bitmap;
    private final ClusterOperations cluster;
    private final InstantSource clock;
    private final RandomGenerator random;
    /** Every member, faulty and spare ones too; guarded by this. */
    final List<ArrayMember> members = new ArrayList<>();
    /**
     * The member in each role; guarded by this for writes, read without it by the request paths.
     * Replaced by a longer or shorter array when raid_disks changes ({@link #resizeSlotsLocked}).
     */
    volatile ArrayMember[] slots;
    /** Bytes of each member's data area in use (md's dev_sectors); changed by {@link SizeChange}. */
    private volatile long componentBytes;
    /**
     * The capacity requests may reach (md's array_sectors, what set_capacity makes visible): on a
     * cluster it follows a grown size only once every node knows it (CHANGE_CAPACITY).
     */
    private volatile long arrayBytes;
    private final SyncBarrier barrier = new SyncBarrier();
    private final WritePath writes = new WritePath(this);
    private final AtomicLong inflight = new AtomicLong();
    private final AtomicLong foregroundBytes = new AtomicLong();
    private final SyncEngine sync;
    private final MemberChanges memberChanges;
    private final RemoteMemberChanges remoteChanges;
    private final SizeChange sizeChange;
    private final ScheduledFuture<?> bitmapDaemon;
    private CompletableFuture<Void> superblockChain = CompletableFuture.completedFuture(null); // guarded by this
    private volatile boolean stopping;
    /** Completed once {@link #stopping} is set and no request is in flight. */
    private final CompletableFuture<Void> drained = new CompletableFuture<>();
    /** How long {@link #stop()} waits for requests in flight. */
    static final long STOP_DRAIN_MILLIS = 800;
    /** How long {@link #stop()} waits for the bitmap flush, and then for the superblock update. */
    static final long STOP_METADATA_MILLIS = 350;
    /**
     * The longest {@link #stop()} takes on a single node: the sync thread, the requests, the bitmap,
     * the superblocks; a clustered array adds {@link ClusterOperations#metadataMessageMillis()}.
     */
    public static final long STOP_BOUND_MILLIS = SyncEngine.STOP_WAIT_MILLIS + STOP_DRAIN_MILLIS
            + 2 * STOP_METADATA_MILLIS;
    private volatile boolean degraded;
    private volatile boolean stopped;

    /** Settings of a running array; {@code syncCheckpoints} keeps a check's position across a crash. */
    public record Settings(String name, InstantSource clock, RandomGenerator random,
                           ScheduledExecutorService scheduler, ClusterOperations cluster, long speedLimitMinKiB,
                           long speedLimitMaxKiB, SyncCheckpointStore syncCheckpoints) {
        public Settings {
            Objects.requireNonNull(name);
            Objects.requireNonNull(clock);
            Objects.requireNonNull(random);
            Objects.requireNonNull(scheduler);
            Objects.requireNonNull(cluster);
            Objects.requireNonNull(syncCheckpoints);
        }

        /** Without a store for check positions. */
        public Settings(String name, InstantSource clock, RandomGenerator random, ScheduledExecutorService scheduler,
                        ClusterOperations cluster, long speedLimitMinKiB, long speedLimitMaxKiB) {
            this(name, clock, random, scheduler, cluster, speedLimitMinKiB, speedLimitMaxKiB, SyncCheckpointStore.NONE);
        }
    }

    private MdArray(AssemblyPlan plan, List<MemberDevice> devices, BitmapOps bitmap, Settings settings) {
        this.name = settings.name();
        this.reference = plan.reference().copy();
        this.cluster = settings.cluster();
        this.clock = settings.clock();
        this.random = settings.random();
        this.bitmap = bitmap;
        this.personality = personalityOf(reference);
        // md raid10_run sets dev_sectors to what the layout uses (calc_sectors); the superblocks say so.
        this.componentBytes = personality instanceof Raid10Personality r10
                ? r10.usedComponentBytes(reference.size() * 512) : reference.size() * 512;
        reference.size(componentBytes / 512);
        this.arrayBytes = personality.arrayBytes(componentBytes);
        this.slots = new ArrayMember[reference.raidDisks()];
        for (int i = 0; i < plan.members().size(); i++) {
            AssemblyPlan.Planned p = plan.members().get(i);
            ArrayMember m = new ArrayMember(devices.get(i), p.metadata().superblock(), p.state(), p.slot(),
                    p.recoveryOffset());
            members.add(m);
            if (m.slot >= 0 && m.state != MemberState.FAULTY) {
                slots[m.slot] = m;
            }
        }
        synchronized (this) {
            refreshDegraded();
        }
        this.sync = new SyncEngine(this, settings.speedLimitMinKiB(), settings.speedLimitMaxKiB(),
                settings.syncCheckpoints());
        this.memberChanges = new MemberChanges(this, random);
        this.remoteChanges = new RemoteMemberChanges(this);
        this.sizeChange = new SizeChange(this);
        if (bitmap instanceof SlotBitmapOps slotBitmap) {
            slotBitmap.attach(this::writeBitmapPage, this::degraded);
        }
        long period = Math.max(1, bitmapDaemonSeconds());
        this.bitmapDaemon = settings.scheduler().scheduleWithFixedDelay(this::bitmapDaemonPass, period, period,
                TimeUnit.SECONDS);
    }

    /**
     * Starts an array from an assembly plan and the opened member devices (same order as
     * {@code plan.members()}). Marks the array active on disk, then starts resync/recovery if
     * anything needs it.
     */
    public static MdArray start(AssemblyPlan plan, List<MemberDevice> devices, BitmapOps bitmap, Settings settings)
            throws MdFormatException {
        MdArray array = open(plan, devices, bitmap, settings);
        array.activate();
        return array;
    }

    /**
     * The first half of {@link #start}: the array is built but has written nothing and serves
     * nothing yet, so the cluster layer can be connected to it ({@link BitmapSlots}) before
     * {@link #activate} writes the first superblock update under the cluster's token.
     */
    public static MdArray open(AssemblyPlan plan, List<MemberDevice> devices, BitmapOps bitmap, Settings settings)
            throws MdFormatException {
        if (devices.size() != plan.members().size()) {
            throw new IllegalArgumentException("one device per planned member");
        }
        MdSuperblock ref = plan.reference();
        if (ref.level() == 10) {
            String problem = Raid10Layout.check(ref.layout(), ref.raidDisks());
            if (problem != null) {
                throw new MdFormatException(problem);
            }
            if (settings.cluster().clustered() && !Raid10Layout.isNear(ref.layout())) {
                // md raid10_run: "only near layout is supported by clustered raid10"
                throw new MdFormatException("raid10 layout" + Raid10Layout.describe(ref.layout()) + " cannot run"
                        + " clustered: only near layout is supported by clustered raid10 (as in md-cluster)");
            }
        }
        return new MdArray(plan, devices, bitmap, settings);
    }

    /** The second half of {@link #start}: marks the array active on disk and starts the sync thread. */
    public void activate() {
        adoptSizeInBitmap();
        planInitialSync();
        markActive().join();
        if (bitmap instanceof NoBitmapOps none) {
            none.guardCheckpoint(referenceCopy().resyncOffset() * 512, this::lowerResyncCheckpoint);
        }
        sync.start();
    }

    static Personality personalityOf(MdSuperblock sb) {
        return sb.level() == 10
                ? new Raid10Personality(sb.raidDisks(), sb.layout(), sb.chunkSize() * 512L, sb.size() * 512)
                : new Raid1Personality(sb.raidDisks());
    }

    // ------------------------------------------------------------------ geometry and identity

    public String name() {
        return name;
    }

    /** Size of the array in bytes. */
    public long size() {
        return arrayBytes;
    }

    long componentBytes() {
        return componentBytes;
    }

    /** The used size of each member changes (lock held): md's dev_sectors and the superblock's size. */
    void componentBytesLocked(long bytes) {
        componentBytes = bytes;
        reference.size(bytes / 512);
    }

    /** What requests may reach from now on (md's set_capacity). */
    void capacity(long bytes) {
        arrayBytes = bytes;
    }

    /** Changes of the array's size: {@code clusterctl grow --size} here, and those of other nodes. */
    public SizeChange sizeChange() {
        return sizeChange;
    }

    Personality personality() {
        return personality;
    }

    BitmapOps bitmap() {
        return bitmap;
    }

    ClusterOperations cluster() {
        return cluster;
    }

    SyncBarrier barrier() {
        return barrier;
    }

    SyncEngine sync() {
        return sync;
    }

    /** Member changes made here: {@code clusterctl add/remove/re-add/grow}. */
    public MemberChanges memberChanges() {
        return memberChanges;
    }

    /** Member changes another node of a cluster made, as this node receives them. */
    public RemoteMemberChanges remoteChanges() {
        return remoteChanges;
    }

    /** Stopped: the members are closed. */
    boolean stopped() {
        return stopped;
    }

    /** No request in flight: md's array_state "clean" (what mdadm --detail shows for an idle array). */
    public boolean idle() {
        return inflight.get() == 0;
    }

    /** Bytes of foreground I/O so far (the resync throttle watches it). */
    long foregroundBytes() {
        return foregroundBytes.get();
    }

    private long bitmapDaemonSeconds() {
        return 5;
    }

    synchronized MdSuperblock referenceCopy() {
        return reference.copy();
    }

    synchronized List<ArrayMember> membersSnapshot() {
        return List.copyOf(members);
    }

    /**
     * The member in {@code slot} for a request's I/O, read without the lock as md's request paths read
     * {@code conf->mirrors[i].rdev}: a member failed meanwhile is seen by its state.
     */
    ArrayMember slotForIo(int slot) {
        ArrayMember[] s = slots;
        return slot < s.length ? s[slot] : null;   // a piece mapped just before raid_disks shrank
    }

    ArrayMember slotMember(int slot) {
        synchronized (this) {
            return slotForIo(slot);
        }
    }

    /**
     * True when fewer than raid_disks members are in sync (md's degraded). Read on every write
     * completion, so it is a volatile flag recomputed whenever a member changes state.
     */
    public boolean degraded() {
        return degraded;
    }

    /** Recomputes {@link #degraded}; call under this object's lock after any member state change. */
    void refreshDegraded() {
        boolean d = false;
        for (ArrayMember m : slots) {
            if (m == null || m.state != MemberState.IN_SYNC) {
                d = true;
                break;
            }
        }
        degraded = d;
    }

    // ------------------------------------------------------------------ requests

    /** Reads {@code dst.remaining()} bytes at {@code offset}; dst's position is not moved. */
    public CompletableFuture<Void> read(ByteBuffer dst, long offset) {
        long length = dst.remaining();
        if (!inRange(offset, length)) {
            return outOfRange("read", offset, length);
        }
        foregroundBytes.addAndGet(length);
        List<Personality.Piece> pieces = personality.map(offset, length);
        if (pieces.size() == 1) {
            return tracked(() -> readPiece(dst.duplicate(), pieces.get(0), new ArrayList<>(), null));
        }
        return tracked(() -> {
            CompletableFuture<?>[] parts = new CompletableFuture<?>[pieces.size()];
            for (int i = 0; i < parts.length; i++) {
                Personality.Piece p = pieces.get(i);
                parts[i] = readPiece(dst.slice(dst.position() + (int) (p.arrayOffset() - offset), (int) p.length()),
                        p, new ArrayList<>(), null);
            }
            return CompletableFuture.allOf(parts);
        });
    }

    /** Writes {@code src.remaining()} bytes at {@code offset}; {@code fua}: durable on completion. */
    public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        long length = src.remaining();
        if (!inRange(offset, length)) {
            return outOfRange("write", offset, length);
        }
        foregroundBytes.addAndGet(length);
        return tracked(() -> writes.write(src, offset, fua).thenCompose(v -> afterFailureRecorded()));
    }

    /** WRITE_ZEROES: the range reads as zeroes afterwards, on every member. */
    public CompletableFuture<Void> writeZeroes(long offset, long length) {
        if (!inRange(offset, length)) {
            return outOfRange("write-zeroes", offset, length);
        }
        return tracked(() -> writes.writeZeroes(offset, length).thenCompose(v -> afterFailureRecorded()));
    }

    /**
     * TRIM: discards the range on every member. Members may read differently afterwards, so the
     * range is zeroed rather than punched where a member cannot guarantee zeroes; here every
     * member gets the same operation, so the copies stay identical.
     */
    public CompletableFuture<Void> trim(long offset, long length) {
        if (!inRange(offset, length)) {
            return outOfRange("trim", offset, length);
        }
        return tracked(() -> writes.writeZeroes(offset, length).thenCompose(v -> afterFailureRecorded()));
    }

    /** FLUSH: fdatasync on every member that takes writes. */
    public CompletableFuture<Void> flush() {
        return tracked(() -> onMembers(writableMembers(), m -> m.device.flush(), "flush", true));
    }

    /**
     * Runs {@code op} on every target in parallel; members whose op fails are failed (md_error).
     * Fails only when no target succeeded. {@code awaitFailures}: complete only once the superblocks
     * recording the failures are written (false where that write could wait on this very call).
     */
    private CompletableFuture<Void> onMembers(List<ArrayMember> targets,
                                              Function<ArrayMember, CompletableFuture<Void>> op, String what,
                                              boolean awaitFailures) {
        List<CompletableFuture<Throwable>> results = new ArrayList<>();
        for (ArrayMember m : targets) {
            results.add(op.apply(m).handle((v, e) -> e));
        }
        return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new)).thenCompose(v -> {
            List<ArrayMember> failed = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < targets.size(); i++) {
                Throwable e = results.get(i).join();
                if (e != null && refusedNotFailed(e)) {
                    refused++;
                } else if (e != null) {
                    failed.add(targets.get(i));
                }
            }
            if (refused > 0 && refused + failed.size() == targets.size()) {
                return CompletableFuture.failedFuture(new ArrayIoException(what + " refused by every member "
                        + names(targets) + ": " + rootMessage(results.get(0).join()), null));
            }
            if (failed.isEmpty()) {
                return CompletableFuture.completedFuture(null);
            }
            if (failed.size() == targets.size()) {
                return CompletableFuture.failedFuture(new ArrayIoException(
                        what + " failed on every member " + names(failed), null));
            }
            CompletableFuture<Void> failing = failMembers(failed, what + " failed");
            return awaitFailures ? failing : CompletableFuture.completedFuture(null);
        });
    }

    private boolean inRange(long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= arrayBytes - length;
    }

    /** A request outside the array never reaches a member (so it can never fail one). */
    private CompletableFuture<Void> outOfRange(String op, long offset, long length) {
        return CompletableFuture.failedFuture(new ArrayIoException(String.format(
                "%s of %d bytes at %d is beyond the end of the array (%d bytes)", op, length, offset, arrayBytes),
                null));
    }

    /** md read_balance + fix_read_error for one piece. */
    private CompletableFuture<Void> readPiece(ByteBuffer dst, Personality.Piece piece, List<ArrayMember> tried,
                                              ArrayMember failedBefore) {
        ArrayMember m = chooseReader(piece, tried);
        if (m == null) {
            return CompletableFuture.failedFuture(new ArrayIoException("read of " + piece.length()
                    + " bytes at array offset " + piece.arrayOffset() + " failed on every member " + names(tried),
                    null));
        }
        long memberOffset = extentOf(piece, m).memberOffset();
        // Where the next sequential read would start, set when the read is issued, as md's
        // read_balance sets next_seq_sect: the reads of a deep sequential stream are chosen before
        // the first completes, and must all stay on this member.
        m.lastReadEnd = memberOffset + piece.length();
        m.pending.incrementAndGet();
        return m.device.read(dst, m.dataOffsetBytes() + memberOffset).handle((v, err) -> {
            m.pending.decrementAndGet();
            return err;
        }).thenCompose(err -> {
            if (err == null) {
                if (failedBefore != null) {
                    return fixReadError(failedBefore, piece, dst);
                }
                return CompletableFuture.completedFuture(null);
            }
            LOG.log(System.Logger.Level.WARNING, "{0}: read failed, trying another member: {1}", m.name(),
                    rootMessage(err));
            tried.add(m);
            return readPiece(dst, piece, tried, failedBefore == null ? m : failedBefore);
        });
    }

    /** Rewrites good data onto the member whose read failed; fails it if that fails too (md fix_read_error). */
    private CompletableFuture<Void> fixReadError(ArrayMember bad, Personality.Piece piece, ByteBuffer good) {
        Personality.Extent e = extentOf(piece, bad);
        if (e == null || !bad.writable()) {
            return CompletableFuture.completedFuture(null);
        }
        int errors = bad.readErrors.incrementAndGet();
        if (errors > MAX_CORRECTED_READ_ERRORS) {
            return failMembers(List.of(bad), "too many read errors (" + errors + ")");
        }
        return bad.device.write(good.duplicate(), bad.dataOffsetBytes() + e.memberOffset(), true)
                .handle((v, err) -> err)
                .thenCompose(err -> err == null ? CompletableFuture.<Void>completedFuture(null)
                        : failMembers(List.of(bad), "rewrite after read error failed"));
    }

    private ArrayMember chooseReader(Personality.Piece piece, List<ArrayMember> tried) {
        boolean firstOnly = cluster.readFromFirstOnly(piece.arrayOffset(), piece.length())
                || rangeNeedsSync(piece.arrayOffset(), piece.length());
        boolean lowest = personality.readsFromLowestAddress();
        ArrayMember best = null;
        long bestOffset = Long.MAX_VALUE;
        for (Personality.Extent e : piece.copies()) {
            ArrayMember m = slotForIo(e.slot());
            if (m == null || tried.contains(m) || !m.readable(e.memberOffset(), piece.length())) {
                continue;
            }
            if (firstOnly) {
                return m;
            }
            if (lowest) {
                // md raid10 read_balance for far layouts: the copy at the lowest address, which
                // is in the first region of some device, so reads stripe over all of them.
                if (best == null || e.memberOffset() < bestOffset
                        || (e.memberOffset() == bestOffset && m.pending.get() < best.pending.get())) {
                    best = m;
                    bestOffset = e.memberOffset();
                }
                continue;
            }
            if (m.lastReadEnd == e.memberOffset()) {
                return m; // sequential affinity
            }
            if (best == null || m.pending.get() < best.pending.get()) {
                best = m;
            }
        }
        return best;
    }

    private boolean rangeNeedsSync(long offset, long length) {
        long cb = bitmap.chunkBytes();
        for (long c = offset / cb; c <= (offset + length - 1) / cb; c++) {
            if (bitmap.needsSync(c)) {
                return true;
            }
        }
        return false;
    }

    private static Personality.Extent extentOf(Personality.Piece piece, ArrayMember m) {
        for (Personality.Extent e : piece.copies()) {
            if (e.slot() == m.slot) {
                return e;
            }
        }
        return null;
    }

    private List<ArrayMember> writableMembers() {
        List<ArrayMember> out = new ArrayList<>();
        synchronized (this) {
            for (ArrayMember m : slots) {
                if (m != null && m.writable()) {
                    out.add(m);
                }
            }
        }
        return out;
    }

    /**
     * Runs a request unless the array is stopping, counting it in flight until it completes. The count goes
     * up before {@code stopping} is read, and {@link #stop()} sets {@code stopping} before it reads the count,
     * so a request either is refused or is one that stop() waits for.
     */
    private <T> CompletableFuture<T> tracked(Supplier<CompletableFuture<T>> request) {
        inflight.incrementAndGet();
        if (stopping) {
            requestDone();
            return CompletableFuture.failedFuture(ArrayIoException.stopping());
        }
        CompletableFuture<T> f;
        try {
            f = request.get();
        } catch (RuntimeException | Error e) {
            requestDone();
            throw e;
        }
        return f.whenComplete((v, e) -> requestDone());
    }

    private void requestDone() {
        if (inflight.decrementAndGet() == 0 && stopping) {
            drained.complete(null);
        }
    }

    // ------------------------------------------------------------------ member state changes

    /**
     * md's {@code md_error}: members become Faulty and the superblocks saying so are written. The
     * member holding the last in-sync copy of any block is never failed (md raid1_error and
     * raid10_error keep it; the request then fails instead).
     */
    CompletableFuture<Void> failMembers(List<ArrayMember> failed, String reason) {
        boolean changed = false;
        CompletableFuture<Void> recorded = new CompletableFuture<>();
        synchronized (this) {
            for (ArrayMember m : failed) {
                if (m.state == MemberState.FAULTY) {
                    continue;
                }
                if (m.state == MemberState.IN_SYNC && !canLose(m)) {
                    LOG.log(System.Logger.Level.ERROR, "{0}: {1}, but it holds the last in-sync copy of some"
                            + " blocks: kept", m.name(), reason);
                    continue;
                }
                if (!changed) {
                    // Before any write can skip the member: a write that dispatches without it from
                    // here on finds the update pending when it completes, and waits for it.
                    failureRecorded = recorded;
                    changed = true;
                }
                m.state = MemberState.FAULTY;
                if (m.slot >= 0 && slots[m.slot] == m) {
                    slots[m.slot] = null;
                }
                LOG.log(System.Logger.Level.ERROR, "{0}: {1}: member marked faulty, array continues degraded",
                        m.name(), reason);
            }
            if (changed) {
                memberChanges.activateSparesLocked();   // md's remove_and_add_spares, in the same update
            }
            refreshDegraded();
        }
        if (!changed) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> update = updateSuperblocks();
        update.whenComplete((v, e) -> recorded.complete(null));
        sync.memberFailed();   // after the update is queued: a recovery waits for it (superblocksWritten)
        return update;
    }

    /**
     * md's MD_SB_CHANGE_PENDING: a write that completes while the superblock update recording a
     * member's failure is still under way is acknowledged only once it is done. Writes issued after
     * the failure skip the member; on a cluster another node may read that member until it has
     * processed the update, so an earlier acknowledgement could be followed there by a read of the
     * old data.
     */
    private CompletableFuture<Void> afterFailureRecorded() {
        CompletableFuture<Void> f = failureRecorded;
        return f.isDone() ? CompletableFuture.completedFuture(null) : f;
    }

    /** Completes when the superblock update recording the latest member failure is written (or failed). */
    private volatile CompletableFuture<Void> failureRecorded = CompletableFuture.completedFuture(null);

    /**
     * True when every block keeps an in-sync copy without {@code m} (md's {@code enough(conf,
     * m->raid_disk)}): raid1, another in-sync member; raid10, one in every group of copies. Lock held.
     */
    boolean canLose(ArrayMember m) {
        return personality.enough(slot -> slot != m.slot && slots[slot] != null
                && slots[slot].state == MemberState.IN_SYNC);
    }

    /** A rebuilt member is now in sync (md spare_active). */
    CompletableFuture<Void> recoveryFinished(ArrayMember m) {
        synchronized (this) {
            if (m.state != MemberState.REBUILDING) {
                return CompletableFuture.completedFuture(null);
            }
            m.state = MemberState.IN_SYNC;
            m.recoveryOffset = componentBytes;
            m.bitmapRecovery = false;
            refreshDegraded();
            LOG.log(System.Logger.Level.INFO, "{0}: recovery complete, member in sync in slot {1}", m.name(), m.slot);
        }
        return updateSuperblocks();
    }

    ArrayMember firstInSync() {
        synchronized (this) {
            for (ArrayMember m : slots) {
                if (m != null && m.state == MemberState.IN_SYNC) {
                    return m;
                }
            }
        }
        throw new IllegalStateException("no in-sync member");
    }

    /** Adds an opened device as a new member, or brings a former one back (md hot_add_disk, re-add). */
    public CompletableFuture<Void> addMember(MemberDevice device, MdSuperblock existing, boolean reAdd)
            throws MdFormatException {
        return memberChanges.add(device, existing, reAdd);
    }

    /** Marks a member faulty on request (clusterctl fail). */
    public CompletableFuture<Void> failMember(String device) throws MdFormatException {
        return memberChanges.fail(device);
    }

    /** Removes a faulty or spare member (clusterctl remove). */
    public CompletableFuture<Void> removeMember(String device) throws MdFormatException {
        return memberChanges.remove(device);
    }

    /** md's {@code --grow --size} (clusterctl grow --size): bytes per member, 0 = all the members offer. */
    public CompletableFuture<Void> growSize(long bytes, boolean force) throws MdFormatException {
        return sizeChange.change(bytes, force);
    }

    /** md's {@code --grow --raid-devices=N} for raid1 (clusterctl grow). */
    public CompletableFuture<Void> growRaidDevices(int raidDevices) throws MdFormatException {
        return memberChanges.growRaidDevices(raidDevices);
    }

    /**
     * md's {@code update_raid_disks} / raid1_reshape: the array gets {@code raidDisks} roles (lock
     * held). Roles given up must be empty. The request paths read the personality, then the slots:
     * growing publishes the slots first, shrinking the personality first, so neither sees a role
     * the other lacks.
     */
    void resizeSlotsLocked(int raidDisks) {
        ArrayMember[] now = slots;
        if (raidDisks == now.length) {
            return;
        }
        ArrayMember[] next = java.util.Arrays.copyOf(now, raidDisks);
        Personality p = personalityOf(reference.copy().raidDisks(raidDisks));
        if (raidDisks > now.length) {
            slots = next;
            personality = p;
        } else {
            personality = p;
            slots = next;
        }
        reference.raidDisks(raidDisks);
        refreshDegraded();
    }

    /** Starts a check (count mismatches) or a repair (fix them), md's sync_action check/repair. */
    public void requestCheck(boolean repair) throws MdFormatException {
        sync.requestCheck(repair);
    }

    public SyncEngine.Progress syncProgress() {
        return sync.progress();
    }

    public long mismatches() {
        return sync.mismatches();
    }

    /** True while chunks wait for a resync or one runs (md's recovery_cp below MaxSector, with a bitmap: NEEDED bits). */
    public boolean syncPending() {
        return !sync.nothingPending();
    }

    /** Check/repair passes completed so far (lets a caller wait for the one it started). */
    public long checksCompleted() {
        return sync.checksCompleted();
    }

    // ------------------------------------------------------------------ superblocks

    /** At start: the array is in use (resync_offset 0 = "active"), and events move on. */
    private CompletableFuture<Void> markActive() {
        synchronized (this) {
            if (reference.resyncOffset() == MdSuperblock.MAX_SECTOR) {
                reference.resyncOffset(0);
            }
        }
        return updateSuperblocks();
    }

    /**
     * Our bitmap slot may still say an older size (a slot nobody held while another node changed
     * the size): it follows the superblock's, in place.
     */
    private void adoptSizeInBitmap() {
        long syncBytes = personality.syncBytes(componentBytes);
        long cb = bitmap.chunkBytes();
        if (bitmap.pages() > 0 && bitmap.chunks() != (syncBytes + cb - 1) / cb) {
            LOG.log(System.Logger.Level.INFO, "{0}: bitmap slot {1} covered {2} chunk(s); the array''s size needs {3}",
                    name, cluster.slot(), bitmap.chunks(), (syncBytes + cb - 1) / cb);
            bitmap.resize(syncBytes).join();
        }
    }

    private void planInitialSync() {
        MdSuperblock ref = referenceCopy();
        if (bitmap.pages() == 0 && ref.resyncOffset() != MdSuperblock.MAX_SECTOR) {
            // Without a bitmap an unclean stop means everything from the checkpoint is suspect.
            long from = Math.min(ref.resyncOffset() * 512, arrayBytes) / bitmap.chunkBytes();
            bitmap.setNeeded(from, bitmap.chunks());
        }
    }

    /**
     * md_update_sb: events+1, roles from member states, written with FUA to every member that is
     * not faulty, one update at a time. Members whose superblock write fails are failed in turn.
     */
    CompletableFuture<Void> updateSuperblocks() {
        return updateSuperblocks(null, null);
    }

    /**
     * md_update_sb after a member change the other nodes of a cluster hear of first:
     * <ol>
     *   <li>the token, and with it {@code change}'s message (NEWDISK and every node's confirmation,
     *       REMOVE, RE_ADD) when there is one; a refusal ends the update here, with nothing changed;</li>
     *   <li>{@code apply} under this object's lock: the change in memory;</li>
     *   <li>the superblocks;</li>
     *   <li>METADATA_UPDATED and the token back, whether or not 2 and 3 worked (md always calls
     *       metadata_update_finish once it started).</li>
     * </ol>
     */
    CompletableFuture<Void> updateSuperblocks(MemberChange change, Runnable apply) {
        CompletableFuture<Void> next;
        synchronized (this) {
            next = superblockChain.handle((v, e) -> null)
                    .thenCompose(v -> change == null ? cluster.metadataUpdateStart()           // 1.
                            : cluster.metadataUpdateStart(change))
                    .thenCompose(v -> {
                        CompletableFuture<Void> written;
                        try {
                            if (apply != null) {
                                synchronized (this) {
                                    apply.run();                                                  // 2.
                                }
                            }
                            written = writeSuperblocks();                                         // 3.
                        } catch (RuntimeException e) {
                            written = CompletableFuture.failedFuture(e);
                        }
                        return written.handle((w, e) -> e);
                    })
                    .thenCompose(e -> cluster.metadataUpdateFinish().handle((f, finishError) -> {   // 4.
                        Throwable first = e != null ? e : finishError;
                        if (first != null) {
                            throw first instanceof CompletionException ce ? ce : new CompletionException(first);
                        }
                        return (Void) null;
                    }));
            superblockChain = next;
        }
        return next;
    }

    /** Completes when the superblock updates queued so far are done (failed or not). */
    synchronized CompletableFuture<Void> superblocksWritten() {
        return superblockChain.handle((v, e) -> null);
    }

    private CompletableFuture<Void> writeSuperblocks() {
        List<ArrayMember> targets = new ArrayList<>();
        List<byte[]> images = new ArrayList<>();
        synchronized (this) {
            reference.events(reference.events() + 1).utime(clock.instant().getEpochSecond());
            int maxDev = reference.maxDev();
            for (ArrayMember m : members) {
                maxDev = Math.max(maxDev, m.devNumber + 1);
            }
            int[] roles = Arrays.copyOf(reference.devRoles(), maxDev);
            for (int i = reference.maxDev(); i < maxDev; i++) {
                roles[i] = MdSuperblock.ROLE_SPARE;
            }
            for (int i = 0; i < roles.length; i++) {
                if (roles[i] < MdSuperblock.ROLE_MAX) {
                    roles[i] = MdSuperblock.ROLE_FAULTY; // re-derived below for members we know
                }
            }
            for (ArrayMember m : members) {
                roles[m.devNumber] = switch (m.state) {
                    case IN_SYNC, REBUILDING -> m.slot;
                    case SPARE -> MdSuperblock.ROLE_SPARE;
                    case FAULTY -> MdSuperblock.ROLE_FAULTY;
                };
            }
            reference.devRoles(roles);
            bitmap.setEvents(reference.events());
            for (ArrayMember m : members) {
                if (m.state == MemberState.FAULTY) {
                    continue;
                }
                MdSuperblock sb = reference.copy().devNumber(m.devNumber).deviceUuid(m.deviceUuid)
                        .dataOffset(m.dataOffsetSectors).dataSize(m.dataSizeSectors);
                if (m.state == MemberState.REBUILDING) {
                    sb.featureMap(sb.featureMap() | MdSuperblock.FEATURE_RECOVERY_OFFSET)
                            .recoveryOffset(m.bitmapRecovery ? 0 : m.recoveryOffset / 512);
                } else {
                    sb.featureMap(sb.featureMap() & ~MdSuperblock.FEATURE_RECOVERY_OFFSET).recoveryOffset(0);
                }
                targets.add(m);
                images.add(MdSuperblockCodec.encode(sb));
            }
        }
        List<ByteBuffer> buffers = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            buffers.add(padToBlock(targets.get(i).device, images.get(i)));
        }
        return onMembers(targets, m -> m.device.write(buffers.get(targets.indexOf(m)),
                MdSuperblock.SUPER_OFFSET_1_2 * 512, true), "superblock update", true);
    }

    /** The superblock image padded to the device's alignment with what follows it on disk preserved as zero. */
    static ByteBuffer padToBlock(MemberDevice device, byte[] image) {
        int align = Math.max(512, device.alignment());
        int len = (image.length + align - 1) / align * align;
        ByteBuffer buf = device.allocate(len);
        buf.put(image);
        buf.position(0).limit(len);
        return buf;
    }

    /**
     * A bitmap page to every member that takes writes, durable on completion (md write_sb_page over
     * next_active_rdev). Members that fail it are failed; it fails only when no member took it.
     */
    CompletableFuture<Void> writeBitmapPage(long byteOffset, ByteBuffer page) {
        // The failure's superblock update may need this very page again: do not wait for it here.
        return onMembers(writableMembers(), m -> m.device.write(page.duplicate(), byteOffset, true), "bitmap write",
                false);
    }

    private void bitmapDaemonPass() {
        if (stopped) {
            return;
        }
        try {
            bitmap.daemonPass(degraded());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "bitmap daemon pass failed", e);
        }
    }

    /** Chunks were added to our bitmap as NEEDED (another node's slot taken over): resync them. */
    void resyncNeeded() {
        sync.recoveryNeeded();
    }

    /** Another node wrote superblocks with {@code events}: our next update must write a newer count. */
    synchronized void adoptEvents(long events) {
        if (events > reference.events()) {
            reference.events(events);
        }
    }

    // ------------------------------------------------------------------ status and stop

    /** A consistent view for status and detail. */
    public record Snapshot(String name, MdSuperblock reference, List<MemberView> members, boolean degraded,
                           long arrayBytes, long componentBytes, SyncEngine.Progress sync, long mismatches,
                           long bitmapPages, long bitmapChunkBytes, long dirtyChunks) {
    }

    /** One member in a snapshot; {@code readErrors}: read errors corrected from another member (md's read_errors). */
    public record MemberView(String device, int devNumber, int slot, MemberState state, long recoveryOffset,
                             byte[] deviceUuid, int readErrors) {
    }

    /** Bitmap pages written to the members since the array started (metrics). */
    public long bitmapPageWrites() {
        return bitmap.pageWrites();
    }

    public Snapshot snapshot() {
        synchronized (this) {
            List<MemberView> views = new ArrayList<>();
            for (ArrayMember m : members) {
                views.add(new MemberView(m.name(), m.devNumber, m.slot, m.state, m.recoveryOffset, m.deviceUuid,
                        m.readErrors.get()));
            }
            return new Snapshot(name, reference.copy(), Collections.unmodifiableList(views), degraded(), arrayBytes,
                    componentBytes, sync.progress(), sync.mismatches(), bitmap.pages(), bitmap.bitmapChunkBytes(),
                    bitmap.dirtyChunks());
        }
    }

    /**
     * Clean stop (md do_md_stop), bounded by {@link #STOP_BOUND_MILLIS} in all: refuse new
     * requests; stop the sync thread (its window is lowered, unfinished work stays marked); let the
     * requests in flight finish; flush the bitmap; write superblocks that say clean when nothing is
     * left to sync. A step that runs out of time is logged with what it waited for and the stop goes
     * on: whatever was not written keeps the array marked for resync at the next start.
     */
    public void stop() {
        if (stopped) {
            return;
        }
        stopping = true;
        if (inflight.get() == 0) {
            drained.complete(null);
        }
        sync.stop();
        // The bitmap keeps the chunks of unfinished writes dirty, so the superblocks below do not say clean.
        stopStep(drained, STOP_DRAIN_MILLIS, () -> inflight.get() + " request(s) in flight");
        bitmapDaemon.cancel(false);
        try {
            stopStep(bitmap.flushAll(), STOP_METADATA_MILLIS, () -> "the bitmap flush");
            synchronized (this) {
                if (bitmap.dirtyChunks() == 0 && !degraded() && sync.nothingPending()) {
                    reference.resyncOffset(MdSuperblock.MAX_SECTOR);
                } else if (bitmap.pages() == 0) {
                    reference.resyncOffset(Math.min(reference.resyncOffset(), sync.checkpointSectors()));
                }
            }
            stopStep(updateSuperblocks(), STOP_METADATA_MILLIS + cluster.metadataMessageMillis(),
                    () -> "the final superblock update");
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "final superblock update failed: " + rootMessage(e));
        }
        try {
            cluster.leave();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: leaving the cluster: {1}", name, rootMessage(e));
        }
        stopped = true;
        for (ArrayMember m : membersSnapshot()) {
            try {
                m.device.close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "{0}: close failed: {1}", m.name(), e.getMessage());
            }
        }
    }

    /** One bounded step of {@link #stop()}; says what it waits for when that takes a while. */
    private void stopStep(CompletableFuture<?> step, long millis, Supplier<String> what) {
        try {
            step.get(millis / 4, TimeUnit.MILLISECONDS);
            return;
        } catch (TimeoutException e) {
            LOG.log(System.Logger.Level.INFO, "{0}: stopping: waiting for {1}", name, what.get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (ExecutionException e) {
            throw new CompletionException(e.getCause());
        }
        try {
            step.get(millis - millis / 4, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: stopping: gave up waiting for {1} after {2} ms", name,
                    what.get(), String.valueOf(millis));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            throw new CompletionException(e.getCause());
        }
    }

    /**
     * Sets the resync checkpoint in the superblock (no-bitmap arrays) unless a write is in flight
     * ({@link NoBitmapOps#raiseCheckpoint}); true when the caller should write the superblocks.
     */
    synchronized boolean checkpointResync(long sectors) {
        if (bitmap instanceof NoBitmapOps none && !none.raiseCheckpoint(sectors * 512)) {
            return false;
        }
        reference.resyncOffset(sectors);
        return true;
    }

    /** A write below the resync checkpoint: the superblocks say it is lower before the write goes on. */
    private synchronized CompletableFuture<Void> lowerResyncCheckpoint(long bytes) {
        if (Long.compareUnsigned(reference.resyncOffset(), bytes / 512) <= 0) {
            return superblockChain; // lowered already: the update queued since then carries it
        }
        reference.resyncOffset(bytes / 512);
        return updateSuperblocks(); // queued under the lock, so a later caller's chain includes it
    }

    @Override
    public void close() {
        stop();
    }

    /**
     * True when a member refused an operation without a disk fault: the device was closed, or this
     * node was fenced from the cluster. md_error is for faults; a refused member is not failed.
     */
    static boolean refusedNotFailed(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c instanceof io.clustermd.md.io.MemberIoException mie
                && mie.reason() == io.clustermd.md.io.MemberIoException.Reason.CLOSED;
    }

    /** The message of what really failed, under the CompletionException/ExecutionException wrappers. */
    public static String describe(Throwable t) {
        return rootMessage(t);
    }

    static String rootMessage(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof java.util.concurrent.ExecutionException)
                && c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.toString() : c.getMessage();
    }

    private static String names(List<ArrayMember> ms) {
        return ms.stream().map(ArrayMember::name).toList().toString();
    }
}
