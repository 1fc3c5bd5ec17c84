package io.clustermd.dlm.libdlm;

import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagerContractTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The contract suite on the {@code libdlm} backend: the real kernel DLM, so it runs only where
 * corosync and dlm_controld do (the VM lab: {@code scripts/vmtest}); tagged {@code vm}, which the
 * normal build excludes. Three lock managers of one process are three separate lock owners (each
 * has its own lockspace fd).
 */
@Tag("vm")
public class LibDlmContractTest extends LockManagerContractTest {
    private static final List<LockManager> NODES = new ArrayList<>();

    @BeforeAll
    static void open() {
        for (int i = 1; i <= 3; i++) {
            NODES.add(LibDlmLockManager.open("owner" + i));
        }
    }

    @AfterAll
    static void close() {
        NODES.forEach(LockManager::close);
        NODES.clear();
    }

    @Override
    protected List<LockManager> managers() {
        return NODES;
    }

    @Override
    protected Duration quietPeriod() {
        return Duration.ofMillis(500);
    }

    @Override
    protected int rounds() {
        return 10;
    }
}
