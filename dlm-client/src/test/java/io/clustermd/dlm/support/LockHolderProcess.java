package io.clustermd.dlm.support;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.Lockspace;
import io.clustermd.dlm.zookeeper.ZkLockManager;
import io.clustermd.dlm.zookeeper.ZkLockManagerConfig;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * A lock holder in its own JVM, for death tests: joins ZooKeeper, takes EX on the resource,
 * writes an LVB, prints {@code HELD <nodeId> <sessionTimeoutMs>} and waits to be killed.
 * Arguments: connectString chroot lockspace resource sessionTimeoutMs.
 */
public final class LockHolderProcess {
    private LockHolderProcess() {
    }

    public static void main(String[] args) throws Exception {
        ZkLockManager m = ZkLockManager.start(ZkLockManagerConfig.of(args[0], args[1], "holder")
                .withTimings(Duration.ofMillis(Long.parseLong(args[4])), Duration.ofSeconds(1), Duration.ofMillis(500)));
        Lockspace ls = m.openLockspace(args[2]);
        LockHandle h = ls.newLock(args[3]);
        if (!h.lock(LockMode.EX).get(60, TimeUnit.SECONDS).granted()) {
            System.out.println("NOT GRANTED");
            System.exit(3);
        }
        byte[] lvb = Arrays.copyOf("written-by-holder".getBytes(StandardCharsets.UTF_8), 32);
        h.setLvb(lvb);
        h.convert(LockMode.EX, LockFlag.VALBLK).get(60, TimeUnit.SECONDS);
        System.out.println("HELD " + m.nodeId() + " " + m.negotiatedSessionTimeout().toMillis());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
