package io.clustermd.dlm.libdlm;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.LockStatus;
import io.clustermd.dlm.Lockspace;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Cross-node check on a 2-node kernel DLM cluster (run by {@code scripts/vmtest} on both VMs):
 * node 1 holds EX with a PERSISTENT flag and an LVB; node 2 is refused with NOQUEUE, queues PR,
 * node 1 gets the blocking callback, gives way by converting down (writing the LVB), node 2 is
 * granted and reads the LVB. Then the md-cluster slot pattern: node 2 takes "bitmap0001" PW, node
 * 1 probes it with NOQUEUE (EAGAIN) and queues PW, node 2 unlocks, node 1 is granted. Then a
 * crashed daemon: a second process on node 2 takes "bitmap0002" PW|PERSISTENT and is killed with
 * SIGKILL; its lock stays as an orphan (node 1 is still refused), a new process adopts it with
 * PERSISTENT|ORPHAN and releases it, and node 1 gets it.
 * Arguments: nodeIndex sharedDir (or: orphan-holder sharedDir). Prints PASS/FAIL lines; exit 0
 * only if all pass.
 */
public final class LibDlmTwoNodeCheck {
    private static int failures;

    private LibDlmTwoNodeCheck() {
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("orphan-holder")) {
            orphanHolder(Path.of(args[1]));
            return;
        }
        int node = Integer.parseInt(args[0]);
        Path shared = Path.of(args[1]);
        try (LibDlmLockManager m = LibDlmLockManager.open(null)) {
            System.out.println("node " + node + " is " + m.nodeId());
            Lockspace ls = m.openLockspace("cmd-vmtest", Duration.ofSeconds(120));
            if (node == 1) {
                nodeOne(ls, shared);
            } else {
                nodeTwo(ls, shared);
            }
            signal(shared, "finished-" + node);
            waitFor(shared, "finished-" + (3 - node));
            ls.close();
        }
        System.out.println(failures == 0 ? "ALL PASS" : failures + " FAILED");
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void nodeOne(Lockspace ls, Path shared) throws Exception {
        AtomicInteger basts = new AtomicInteger();
        LockHandle x = ls.newLock("x", (lock, mode) -> basts.incrementAndGet());
        check("node1 EX granted", get(x.lock(LockMode.EX, LockFlag.PERSISTENT)).granted());
        x.setLvb(Arrays.copyOf("from-node-1".getBytes(StandardCharsets.UTF_8), 32));
        check("node1 EX->EX writes LVB", get(x.convert(LockMode.EX, LockFlag.VALBLK, LockFlag.PERSISTENT)).granted());
        signal(shared, "held");
        waitFor(shared, "queued");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (basts.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        check("node1 got the blocking callback for node2's PR", basts.get() >= 1);
        check("node1 EX->NL with VALBLK (gives way)", get(x.convert(LockMode.NL, LockFlag.VALBLK)).granted());
        waitFor(shared, "granted");
        // slot probe
        waitFor(shared, "slot-held");
        LockHandle slot = ls.newLock("bitmap0001");
        check("node1 NOQUEUE PW on node2's slot is refused (EAGAIN)",
                get(slot.lock(LockMode.PW, LockFlag.NOQUEUE)).status() == LockStatus.NOT_GRANTED);
        CompletableFuture<LockResult> queued = slot.lock(LockMode.PW, Duration.ofSeconds(120));
        signal(shared, "slot-queued");
        check("node1 queued PW on node2's slot is granted after node2 let go", get(queued).granted());
        get(slot.unlock());
        get(x.unlock());
        // orphans
        waitFor(shared, "orphan-killed");
        LockHandle orphanSlot = ls.newLock("bitmap0002");
        check("node1 refused the slot of the killed process (orphan PERSISTENT lock kept it)",
                get(orphanSlot.lock(LockMode.PW, LockFlag.NOQUEUE)).status() == LockStatus.NOT_GRANTED);
        signal(shared, "orphan-checked");
        waitFor(shared, "adopted");
        check("node1 gets the slot after the orphan was adopted and released",
                get(orphanSlot.lock(LockMode.PW, Duration.ofSeconds(120))).granted());
        get(orphanSlot.unlock());
    }

    /** A daemon that takes its slot PERSISTENT, then gets killed. */
    private static void orphanHolder(Path shared) throws Exception {
        try (LibDlmLockManager m = LibDlmLockManager.open("orphan-holder")) {
            Lockspace ls = m.openLockspace("cmd-vmtest", Duration.ofSeconds(120));
            LockHandle slot = ls.newLock("bitmap0002");
            LockResult r = get(slot.lock(LockMode.PW, LockFlag.PERSISTENT));
            System.out.println("orphan holder: " + r);
            signal(shared, "orphan-held");
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    private static void nodeTwo(Lockspace ls, Path shared) throws Exception {
        waitFor(shared, "held");
        LockHandle y = ls.newLock("x");
        check("node2 NOQUEUE PR refused while node1 holds EX",
                get(y.lock(LockMode.PR, LockFlag.NOQUEUE)).status() == LockStatus.NOT_GRANTED);
        CompletableFuture<LockResult> f = y.lock(LockMode.PR, Duration.ofSeconds(120), LockFlag.VALBLK);
        signal(shared, "queued");
        LockResult r = get(f);
        check("node2 PR granted once node1 converted down", r.granted());
        check("node2 read node1's LVB", r.lvb() != null
                && new String(r.lvb(), StandardCharsets.UTF_8).startsWith("from-node-1"));
        check("node2 LVB valid", !r.valNotValid());
        signal(shared, "granted");
        get(y.unlock());
        LockHandle slot = ls.newLock("bitmap0001");
        check("node2 takes its slot PW NOQUEUE", get(slot.lock(LockMode.PW, LockFlag.NOQUEUE)).granted());
        signal(shared, "slot-held");
        waitFor(shared, "slot-queued");
        Thread.sleep(1000); // let node1's queued request reach the lock master
        get(slot.unlock());
        // orphans: 1. a second process takes the slot PERSISTENT; 2. SIGKILL it
        String java = ProcessHandle.current().info().command().orElse("java");
        Process holder = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), LibDlmTwoNodeCheck.class.getName(), "orphan-holder",
                shared.toString()).inheritIO().start();
        waitFor(shared, "orphan-held");
        holder.destroyForcibly();
        check("orphan holder process killed", holder.waitFor(60, TimeUnit.SECONDS));
        signal(shared, "orphan-killed");
        waitFor(shared, "orphan-checked");
        // 3. a restarted daemon adopts the orphan (same name and mode) and releases it
        LockHandle adopt = ls.newLock("bitmap0002");
        LockResult adopted = get(adopt.lock(LockMode.PW, LockFlag.PERSISTENT, LockFlag.ORPHAN));
        check("node2 adopts the orphan with PERSISTENT|ORPHAN (" + adopted + ")", adopted.granted());
        if (adopted.granted()) {
            get(adopt.unlock());
        }
        signal(shared, "adopted");
    }

    private static LockResult get(CompletableFuture<LockResult> f) throws Exception {
        return f.get(180, TimeUnit.SECONDS);
    }

    private static void check(String what, boolean ok) {
        System.out.println((ok ? "PASS " : "FAIL ") + what);
        if (!ok) {
            failures++;
        }
    }

    private static void signal(Path dir, String name) throws Exception {
        Files.writeString(dir.resolve("vmtest-" + name), "x");
    }

    private static void waitFor(Path dir, String name) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!Files.exists(dir.resolve("vmtest-" + name))) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out waiting for " + name);
            }
            Thread.sleep(50);
        }
    }
}
