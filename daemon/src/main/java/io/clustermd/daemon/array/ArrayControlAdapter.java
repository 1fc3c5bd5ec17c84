package io.clustermd.daemon.array;

import io.clustermd.control.ArrayControl;
import io.clustermd.control.ArrayState;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.BitmapStatus;
import io.clustermd.control.ControlException;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;
import io.clustermd.md.MdFormatException;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.NoSuperblockException;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.array.SyncEngine;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberDevices;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/** The running array's management surface for the control socket (md's sysfs and ioctls). */
public final class ArrayControlAdapter implements ArrayControl {

    /** Opens a device for a new member. */
    public interface DeviceOpener {
        MemberDevice open(Path path) throws IOException, MdFormatException;
    }

    private final MdArray array;
    private final DeviceOpener opener;
    private final Runnable stopper;
    private final int daemonSleepSeconds;
    private volatile java.util.function.Supplier<io.clustermd.control.ClusterStatus> cluster = () -> null;
    private volatile java.util.function.IntSupplier remoteResyncs = () -> 0;

    public ArrayControlAdapter(MdArray array, DeviceOpener opener, Runnable stopper, int daemonSleepSeconds) {
        this.array = array;
        this.opener = opener;
        this.stopper = stopper;
        this.daemonSleepSeconds = daemonSleepSeconds;
    }

    /**
     * A clustered array: status carries the cluster's facts, and while another node resyncs and this
     * one has nothing of its own to sync, the sync shows as PENDING (as mdstat does on md-cluster).
     */
    public void clusterStatus(java.util.function.Supplier<io.clustermd.control.ClusterStatus> facts,
                              java.util.function.IntSupplier otherNodesResyncing) {
        this.cluster = facts;
        this.remoteResyncs = otherNodesResyncing;
    }

    @Override
    public ArrayStatus status() {
        MdArray.Snapshot s = array.snapshot();
        MdSuperblock sb = s.reference();
        List<MemberStatus> members = new ArrayList<>();
        for (MdArray.MemberView m : s.members()) {
            MemberState state = switch (m.state()) {
                case IN_SYNC -> MemberState.IN_SYNC;
                case REBUILDING -> MemberState.REBUILDING;
                case SPARE -> MemberState.SPARE;
                case FAULTY -> MemberState.FAULTY;
            };
            int[] numbers = MemberDevices.blockDeviceNumbers(Path.of(m.device()));
            members.add(new MemberStatus(m.device(), m.devNumber(),
                    state == MemberState.IN_SYNC || state == MemberState.REBUILDING ? m.slot() : null, state,
                    state == MemberState.REBUILDING ? m.recoveryOffset() / 512 : null,
                    MdSuperblock.mdadmUuid(m.deviceUuid()), numbers == null ? null : numbers[0],
                    numbers == null ? null : numbers[1]));
        }
        SyncEngine.Progress p = s.sync();
        SyncAction action = switch (p.action()) {
            case IDLE -> SyncAction.IDLE;
            case RESYNC -> SyncAction.RESYNC;
            case RECOVER -> SyncAction.RECOVER;
            case CHECK -> SyncAction.CHECK;
            case REPAIR -> SyncAction.REPAIR;
        };
        long total = p.totalBytes() / 512;
        boolean waitsForCluster = p.waitingFor() != null && p.waitingFor().startsWith(SyncEngine.CLUSTER_LOCK_WAIT);
        SyncStatus sync = action == SyncAction.IDLE
                ? remoteResyncs.getAsInt() > 0 ? new SyncStatus(SyncAction.RESYNC, 0, 0, 0, null,
                        io.clustermd.control.SyncWait.PENDING) : SyncStatus.idle()
                : waitsForCluster
                ? new SyncStatus(action, 0, total, 0, null, remoteResyncs.getAsInt() > 0
                        ? io.clustermd.control.SyncWait.REMOTE : io.clustermd.control.SyncWait.PENDING, p.waitingFor())
                : new SyncStatus(action, Math.min(p.doneBytes() / 512, total), total, p.bytesPerSecond() / 1024, null,
                        null, p.waitingFor());
        BitmapStatus bitmap = null;
        if (s.bitmapPages() > 0) {
            long chunks = (s.arrayBytes() + s.bitmapChunkBytes() - 1) / s.bitmapChunkBytes();
            bitmap = new BitmapStatus(s.bitmapChunkBytes(), BitmapStatus.pagesFor(chunks),
                    BitmapStatus.pagesFor(chunks), chunks, s.dirtyChunks(), daemonSleepSeconds);
        }
        // md's array_state: clean while no write is in flight (safemode), active otherwise.
        boolean clean = array.idle() && p.action() == SyncEngine.Action.IDLE;
        return new ArrayStatus(s.name(), sb.name(), MdSuperblock.mdadmUuid(sb.setUuid()),
                sb.level() == 10 ? "raid10" : "raid1", sb.level() == 10 ? sb.layout() : null,
                sb.level() == 10 ? sb.chunkSize() / 2 : null, sb.raidDisks(), s.arrayBytes() / 1024,
                s.componentBytes() / 1024, ArrayState.derive(clean, sb.raidDisks(), members, sync), false,
                sb.events(), sb.ctime() & 0xFFFFFFFFFFL, sb.utime() & 0xFFFFFFFFFFL, bitmap, members, sync,
                s.mismatches(), cluster.get());
    }

    @Override
    public void fail(String member) throws ControlException {
        run(m -> array.failMember(m), member);
    }

    @Override
    public void remove(String member) throws ControlException {
        run(m -> array.removeMember(m), member);
    }

    @Override
    public void growSize(long bytes, boolean force) throws ControlException {
        complete(() -> array.growSize(bytes, force));
    }

    @Override
    public void growRaidDevices(int raidDevices) throws ControlException {
        complete(() -> array.growRaidDevices(raidDevices));
    }

    @Override
    public void add(String member) throws ControlException {
        addOrReAdd(member, false);
    }

    @Override
    public void reAdd(String member) throws ControlException {
        addOrReAdd(member, true);
    }

    private void addOrReAdd(String member, boolean reAdd) throws ControlException {
        Path path = Path.of(member);
        MdSuperblock existing = null;
        try {
            MemberMetadata m = MemberMetadataReader.read(path);
            existing = m.superblock();
        } catch (NoSuperblockException e) {
            existing = null;
        } catch (MdFormatException | IOException e) {
            throw new ControlException(e.getMessage());
        }
        MdSuperblock ref = array.snapshot().reference();
        boolean ours = existing != null && Arrays.equals(existing.setUuid(), ref.setUuid());
        if (reAdd && !ours) {
            throw new ControlException(member + (existing == null ? " carries no md superblock"
                    : " belongs to another array (" + MdSuperblock.mdadmUuid(existing.setUuid()) + ")")
                    + ": it was never a member of " + array.name() + "; use 'clusterctl add' for a full recovery");
        }
        if (!reAdd && existing != null && !ours) {
            throw new ControlException(member + " carries the superblock of another array ("
                    + MdSuperblock.mdadmUuid(existing.setUuid()) + ", '" + existing.name()
                    + "'); clear it first (e.g. wipefs -a) if it is really free");
        }
        try {
            MemberDevice device = opener.open(path);
            try {
                array.addMember(device, existing, reAdd && ours).join();
            } catch (MdFormatException | RuntimeException e) {
                device.close();
                throw e;
            }
        } catch (MdFormatException | IOException e) {
            throw new ControlException(e.getMessage());
        } catch (CompletionException e) {
            throw new ControlException(member + ": " + (e.getCause() == null ? e : e.getCause()).getMessage());
        }
    }

    @Override
    public void check() throws ControlException {
        try {
            array.requestCheck(false);
        } catch (MdFormatException e) {
            throw new ControlException(e.getMessage());
        }
    }

    @Override
    public void repair() throws ControlException {
        try {
            array.requestCheck(true);
        } catch (MdFormatException e) {
            throw new ControlException(e.getMessage());
        }
    }

    @Override
    public void stop() {
        stopper.run();
    }

    private interface MemberOp {
        java.util.concurrent.CompletableFuture<Void> apply(String member) throws MdFormatException;
    }

    private interface ArrayOp {
        java.util.concurrent.CompletableFuture<Void> start() throws MdFormatException;
    }

    private void run(MemberOp op, String member) throws ControlException {
        String name = resolve(member);
        complete(() -> op.apply(name));
    }

    /** Starts an operation and waits for it; a refusal or a failure becomes the control error. */
    private static void complete(ArrayOp op) throws ControlException {
        try {
            op.start().join();
        } catch (MdFormatException e) {
            throw new ControlException(e.getMessage());
        } catch (CompletionException e) {
            throw new ControlException((e.getCause() == null ? e : e.getCause()).getMessage());
        }
    }

    /** Matches a path given by a client to a member name, by path or by real path. */
    private String resolve(String member) {
        List<String> names = array.snapshot().members().stream().map(MdArray.MemberView::device).toList();
        if (names.contains(member)) {
            return member;
        }
        Function<String, String> real = p -> {
            try {
                return Path.of(p).toRealPath().toString();
            } catch (IOException | RuntimeException e) {
                return Path.of(p).toAbsolutePath().normalize().toString();
            }
        };
        String wanted = real.apply(member);
        for (String n : names) {
            if (real.apply(n).equals(wanted)) {
                return n;
            }
        }
        return member;
    }
}
