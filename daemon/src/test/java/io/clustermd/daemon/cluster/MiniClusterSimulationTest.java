package io.clustermd.daemon.cluster;

import io.clustermd.md.array.DeviceLocator;
import io.clustermd.cmd.ClusterCtl;
import io.clustermd.dlm.local.LocalLockCluster;
import io.clustermd.dlm.local.LocalLockManager;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.array.ArrayAssembler;
import io.clustermd.md.array.AssemblyPlan;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.array.SlotBitmapOps;
import io.clustermd.md.io.FileMemberDevice;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberDevices;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The mini cluster: N nodes of one clustered RAID1 in one JVM, each a real {@link MdArray} on its
 * own O_DIRECT handles of two shared member files, joined through {@link ClusterMembership} on the
 * in-process {@code local} lock manager. A seeded random walk of steps — writes and bursts of
 * concurrent writes from every node, reads on every node checked against a model of the
 * consistency contract, node crashes (with and without a write in flight) and restarts — and after
 * every crash, once survivors have recovered the dead slot, and at quiet points, the legs must be
 * identical. The seed drives every choice; a failure prints it (rerun with
 * {@code -Dminicluster.seed=SEED}).
 */
class MiniClusterSimulationTest {

    static final long SEED = Long.getLong("minicluster.seed", 20_261_207L);
    static final int STEPS = Integer.getInteger("minicluster.steps", 5000);
    static final int NODES = 4;
    static final int BLOCK = 4096;
    static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private final LocalLockCluster locks = new LocalLockCluster();
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2);
    private final List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
    private List<Path> members;
    private long dataOffset;
    private int blocks;

    /** One running node. */
    private final class Node {
        final int id;
        final LocalLockManager manager;
        final ClusterMembership membership;
        final MdArray array;
        final List<MemberDevice> devices = new ArrayList<>();
        final ExecutorService io;

        Node(int id, int incarnation) throws Exception {
            this(id, incarnation, 8);
        }

        Node(int id, int incarnation, int ioThreads) throws Exception {
            this.io = Executors.newFixedThreadPool(ioThreads);
            this.id = id;
            this.manager = locks.join("n" + id + "-" + incarnation);
            AssemblyPlan first = plan();
            var bitmapSb = first.members().get(0).metadata().bitmap();
            this.membership = ClusterMembership.join(manager, "local", "n" + id, first.reference(), bitmapSb.nodes(),
                    bitmapSb.clusterName(), Duration.ofSeconds(30), Duration.ofSeconds(5),
                    () -> log.add("n" + id + " fenced"));
            AssemblyPlan plan = plan();
            for (AssemblyPlan.Planned p : plan.members()) {
                devices.add(MemberDevices.open(Path.of(p.metadata().device()),
                        FileMemberDevice.Options.DEFAULT.withShared(true), io, null));
            }
            this.array = MdArray.open(plan, devices, SlotBitmapOps.forArray(plan, devices, membership.slot()),
                    new MdArray.Settings("sim" + id, InstantSource.system(), new Random(SEED + id), scheduler,
                            membership.operations(), 200_000, 400_000));
            membership.bind(array, DeviceLocator.NONE);
            array.activate();
            membership.recoverAbandonedSlots();
        }

        /**
         * The process dies: member I/O already accepted finishes (as the kernel completes a dead
         * process's bios), nothing more is issued, then the lock manager notices the death.
         */
        void crash() {
            devices.forEach(MemberDevice::close);
            locks.crash(manager);
            array.stop();   // its threads only: every member refuses, the lockspace is dead
            io.shutdownNow();
        }

        void stop() {
            array.stop();
            membership.close();
            io.shutdownNow();
        }
    }

    private AssemblyPlan plan() throws Exception {
        List<MemberMetadata> metadata = new ArrayList<>();
        for (Path p : members) {
            metadata.add(MemberMetadataReader.read(p));
        }
        return ArrayAssembler.plan(metadata);
    }

    /** What the contract says a block may read as. */
    private static final class BlockModel {
        long acked;                                  // newest acknowledged write id, 0 = never written
        final Set<Long> uncertain = new HashSet<>(); // writes of crashed nodes, newer than acked
    }

    private final Map<Long, BlockModel> model = new HashMap<>();
    private final Node[] nodes = new Node[NODES];
    private final int[] incarnations = new int[NODES];
    private long nextId = 1;

    @AfterEach
    void tearDown() {
        for (Node n : nodes) {
            if (n != null) {
                n.stop();
            }
        }
        locks.close();
        scheduler.shutdownNow();
    }

    @Test
    void randomWritesCrashesAndRestarts_contractHolds_legsIdenticalWhenQuiet() throws Exception {
        members = createClustered("m-", 24 * MIB, "--nodes=8", "--bitmap-chunk=64K", "--name=sim");
        MdSuperblock sb = MemberMetadataReader.read(members.get(0)).superblock();
        dataOffset = sb.dataOffset() * 512;
        blocks = (int) Math.min(2048, sb.size() * 512 / BLOCK);   // 8 MiB: 128 bitmap chunks, shared by all

        Random rnd = new Random(SEED);
        String step = "start";
        int crashes = 0;
        int restarts = 0;
        int reads = 0;
        int writes = 0;
        try {
            for (int i = 0; i < NODES; i++) {
                nodes[i] = new Node(i, incarnations[i]++);
            }
            for (int s = 0; s < STEPS; s++) {
                int roll = rnd.nextInt(100);
                if (roll < 40) {
                    Node n = randomLive(rnd);
                    step = s + ": write on n" + n.id;
                    write(n, rnd.nextInt(blocks)).join();
                    writes++;
                } else if (roll < 50) {
                    step = s + ": burst";
                    List<CompletableFuture<Void>> burst = new ArrayList<>();
                    Set<Integer> used = new TreeSet<>();
                    for (int k = 0; k < 16; k++) {
                        int b = rnd.nextInt(blocks);
                        if (used.add(b)) {
                            burst.add(write(randomLive(rnd), b));
                        }
                    }
                    CompletableFuture.allOf(burst.toArray(CompletableFuture[]::new)).join();
                    writes += burst.size();
                } else if (roll < 93) {
                    Node n = randomLive(rnd);
                    long b = rnd.nextInt(blocks);
                    step = s + ": read block " + b + " on n" + n.id;
                    checkRead(n, b);
                    reads++;
                } else if (roll < 96 && liveCount() > 1) {
                    Node n = randomLive(rnd);
                    step = s + ": crash n" + n.id;
                    if (rnd.nextBoolean()) {
                        // a write in flight at the crash: it may or may not land, on one leg or both
                        long b = rnd.nextInt(blocks);
                        long id = nextId++;
                        model.computeIfAbsent(b, x -> new BlockModel()).uncertain.add(id);
                        n.array.write(blockImage(b, id), b * BLOCK, false);
                    }
                    n.crash();
                    nodes[n.id] = null;
                    crashes++;
                    awaitRecovered();
                    step = s + ": legs after recovering n" + n.id;
                    awaitQuiet();
                    assertLegsIdentical();
                } else if (roll < 99) {
                    int down = randomDown(rnd);
                    if (down >= 0) {
                        step = s + ": restart n" + down;
                        nodes[down] = new Node(down, incarnations[down]++);
                        restarts++;
                    }
                } else {
                    step = s + ": quiet";
                    awaitQuiet();
                    assertLegsIdentical();
                }
            }
            step = "final reads";
            awaitQuiet();
            assertLegsIdentical();
            for (Node n : nodes) {
                if (n != null) {
                    for (long b = 0; b < blocks; b += 7) {
                        checkRead(n, b);
                    }
                }
            }
        } catch (Throwable t) {
            throw new AssertionError("mini cluster seed " + SEED + " failed at step " + step + " (rerun with"
                    + " -Dminicluster.seed=" + SEED + "): " + t + "\nlast log lines:\n"
                    + String.join("\n", log.subList(Math.max(0, log.size() - 30), log.size())), t);
        }
        System.out.printf("mini cluster seed %d: %d steps, %d writes, %d reads checked, %d crashes, %d restarts%n",
                SEED, STEPS, writes, reads, crashes, restarts);
        assertThat(crashes).isPositive();
        assertThat(restarts).isPositive();
    }

    /**
     * md-cluster's limit is the slot count given at create: 32 nodes join an array created with
     * --nodes=32 (each in its own slot), the 33rd is refused with an error naming the slot count; a
     * write on every node reads back on the next one; a crash is recovered by one of 31 survivors.
     */
    @Test
    void thirtyTwoNodes_eachGetsASlot_theThirtyThirdIsRefused_writesVisibleEverywhere() throws Exception {
        members = createClustered("w-", 16 * MIB, "--nodes=32", "--bitmap-chunk=1M", "--name=wide");
        List<Node> wide = new ArrayList<>();
        try {
            for (int i = 0; i < 32; i++) {
                wide.add(new Node(i, 0, 2));
            }
            assertThat(wide.stream().map(n -> n.membership.slot()).distinct().count()).isEqualTo(32);
            assertThatThrownBy(() -> new Node(32, 0, 2))
                    .hasMessageContaining("all 32 node slots of the array are held");
            for (int i = 0; i < 32; i++) {
                wide.get(i).array.write(blockImage(i, 1000 + i), (long) i * BLOCK, false).join();
            }
            for (int i = 0; i < 32; i++) {
                ByteBuffer buf = ByteBuffer.allocateDirect(BLOCK);
                wide.get((i + 1) % 32).array.read(buf, (long) i * BLOCK).join();
                assertThat(idOf(buf, i)).isEqualTo(1000 + i);
            }
            Node victim = wide.remove(7);
            victim.crash();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (wide.stream().anyMatch(n -> n.membership.status().nodes().size() != 31)) {
                assertThat(System.nanoTime()).as("31 survivors see each other").isLessThan(deadline);
                Thread.sleep(50);
            }
            for (Node n : wide) {
                assertThat(n.membership.status().nodes()).hasSize(31);
            }
        } finally {
            for (Node n : wide) {
                n.stop();
            }
        }
    }

    /** Two member files of {@code bytes} made into a clustered RAID1 by {@code clusterctl create --assume-clean}. */
    private List<Path> createClustered(String prefix, long bytes, String... options) {
        List<Path> paths = io.clustermd.md.MemberFiles.sparse(dir, prefix, 2, bytes);
        List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--bitmap=clustered",
                "--assume-clean", "--home-cluster=sim"));
        args.addAll(List.of(options));
        paths.forEach(p -> args.add(p.toString()));
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(new StringWriter()),
                new PrintWriter(err))).as(err.toString()).isZero();
        return paths;
    }

    private CompletableFuture<Void> write(Node n, long block) {
        long id = nextId++;
        BlockModel m = model.computeIfAbsent(block, x -> new BlockModel());
        return n.array.write(blockImage(block, id), block * BLOCK, false).thenRun(() -> {
            synchronized (model) {
                m.acked = id;
                m.uncertain.clear();
            }
        });
    }

    private void checkRead(Node n, long block) {
        ByteBuffer buf = ByteBuffer.allocateDirect(BLOCK);
        n.array.read(buf, block * BLOCK).join();
        long got = idOf(buf, block);
        BlockModel m = model.computeIfAbsent(block, x -> new BlockModel());
        synchronized (model) {
            if (got == m.acked) {
                m.uncertain.clear();   // the unfinished writes did not land: from now on this is the value
                return;
            }
            assertThat(m.uncertain).as("block %d read on n%d: got write %d, acknowledged %d", block, n.id, got,
                    m.acked).contains(got);
            m.acked = got;             // an unfinished write landed: the block reads so from now on
            m.uncertain.clear();
        }
    }

    /** Every sector: write id, block number, sector index (so a misplaced or torn block shows). */
    private static ByteBuffer blockImage(long block, long id) {
        ByteBuffer b = ByteBuffer.allocateDirect(BLOCK).order(ByteOrder.LITTLE_ENDIAN);
        for (int s = 0; s < BLOCK / 512; s++) {
            b.putLong(s * 512, id).putLong(s * 512 + 8, block).putLong(s * 512 + 16, s);
        }
        return b;
    }

    private static long idOf(ByteBuffer buf, long block) {
        ByteBuffer b = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long id = b.getLong(0);
        for (int s = 0; s < BLOCK / 512; s++) {
            long sid = b.getLong(s * 512);
            long sblock = b.getLong(s * 512 + 8);
            boolean zero = sid == 0 && sblock == 0 && b.getLong(s * 512 + 16) == 0;
            if (!(zero && id == 0) && (sid != id || sblock != block || b.getLong(s * 512 + 16) != s)) {
                throw new AssertionError("block " + block + " sector " + s + " holds write " + sid + " of block "
                        + sblock + " (sector 0 has write " + id + "): torn or misplaced");
            }
        }
        return id;
    }

    private Node randomLive(Random rnd) {
        List<Node> live = new ArrayList<>();
        for (Node n : nodes) {
            if (n != null) {
                live.add(n);
            }
        }
        return live.get(rnd.nextInt(live.size()));
    }

    private int randomDown(Random rnd) {
        List<Integer> down = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            if (nodes[i] == null) {
                down.add(i);
            }
        }
        return down.isEmpty() ? -1 : down.get(rnd.nextInt(down.size()));
    }

    private int liveCount() {
        return (int) Arrays.stream(nodes).filter(java.util.Objects::nonNull).count();
    }

    /** Every live node sees exactly the live nodes' slots, and none is being recovered. */
    private void awaitRecovered() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            Set<Integer> liveSlots = new TreeSet<>();
            for (Node n : nodes) {
                if (n != null) {
                    liveSlots.add(n.membership.slot());
                }
            }
            boolean ok = true;
            for (Node n : nodes) {
                if (n == null) {
                    continue;
                }
                Set<Integer> seen = new TreeSet<>();
                for (var slot : n.membership.status().nodes()) {
                    seen.add(slot.slot());
                    ok &= !slot.state().startsWith("gone");
                }
                ok &= seen.equals(liveSlots);
            }
            if (ok) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the dead node's slot was not recovered within 30 s");
            }
            Thread.sleep(20);
        }
    }

    /** No node syncs or waits for another's resync. */
    private void awaitQuiet() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            boolean quiet = true;
            for (Node n : nodes) {
                if (n != null) {
                    quiet &= n.array.syncProgress().action() == io.clustermd.md.array.SyncEngine.Action.IDLE
                            && n.membership.remoteWindowCount() == 0;
                }
            }
            if (quiet && noNeededChunks()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the cluster did not become quiet within 60 s");
            }
            Thread.sleep(20);
        }
    }

    private boolean noNeededChunks() {
        for (Node n : nodes) {
            if (n != null && n.array.syncPending()) {
                return false;
            }
        }
        return true;
    }

    private void assertLegsIdentical() throws Exception {
        long bytes = (long) blocks * BLOCK;
        byte[] a = readData(members.get(0), bytes);
        byte[] b = readData(members.get(1), bytes);
        if (!Arrays.equals(a, b)) {
            int first = Arrays.mismatch(a, b);
            throw new AssertionError("legs differ from byte " + first + " (block " + first / BLOCK + ") once quiet");
        }
    }

    private byte[] readData(Path member, long length) throws Exception {
        try (FileChannel ch = FileChannel.open(member, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(length));
            while (buf.hasRemaining() && ch.read(buf, dataOffset + buf.position()) > 0) {
                // regular file: short reads only at the end
            }
            return buf.array();
        }
    }
}
