package io.clustermd.md.io;

import static io.clustermd.md.io.IoTesting.await;
import static io.clustermd.md.io.IoTesting.failure;
import static io.clustermd.md.io.IoTesting.filled;
import static io.clustermd.md.io.IoTesting.readBack;
import static io.clustermd.md.io.IoTesting.sparseFile;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.md.io.MemberIoException.Reason;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fault-injecting decorator over a real O_DIRECT file: every plan, runtime switching, counts. */
class FaultInjectingMemberDeviceTest {
    private static final long SIZE = 16L << 20;

    @TempDir
    Path dir;
    private ExecutorService io;
    private FaultInjectingMemberDevice dev;
    private String name;

    @BeforeEach
    void open() throws Exception {
        io = Executors.newFixedThreadPool(4, r -> new Thread(r, "member-io"));
        Path p = sparseFile(dir.resolve("a.img"), SIZE);
        name = p.toString();
        dev = new FaultInjectingMemberDevice(MemberDevices.open(p, true, io), io);
    }

    @AfterEach
    void close() throws Exception {
        dev.close();
        io.shutdown();
        assertThat(io.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }

    private CompletableFuture<Void> write4k(long offset, int fill) {
        byte[] d = new byte[4096];
        Arrays.fill(d, (byte) fill);
        return dev.write(filled(dev, d), offset, false);
    }

    /** Asserts the failure is indistinguishable from a real EIO on this device. */
    private void assertEio(MemberIoException e, MemberOp op, long offset, long length) {
        assertThat(e.reason()).isEqualTo(Reason.IO_ERROR);
        assertThat(e.device()).isEqualTo(name);
        assertThat(e.operation()).isEqualTo(op);
        assertThat(e.getCause()).isExactlyInstanceOf(IOException.class).hasMessage("Input/output error");
        if (op == MemberOp.FLUSH) {
            assertThat(e).hasMessage(name + ": flush failed: Input/output error");
        } else {
            assertThat(e.offset()).isEqualTo(offset);
            assertThat(e.length()).isEqualTo(length);
            assertThat(e).hasMessage(name + ": " + op.label() + " of " + length + " bytes at " + offset
                    + " failed: Input/output error");
        }
    }

    @Test
    void healthy_passesEverythingThrough() throws Exception {
        await(write4k(0, 1));
        await(dev.flush());
        assertThat(readBack(dev, 0, 4096)).containsOnly(1);
        assertThat(dev.injectedFaults()).isZero();
        assertThat(dev.name()).isEqualTo(name);
        assertThat(dev.sizeBytes()).isEqualTo(SIZE);
        assertThat(dev.alignment()).isEqualTo(4096);
    }

    @Test
    void failReads_readsFailWritesPass() throws Exception {
        dev.setPlan(FaultPlan.failReads());
        assertEio(failure(dev.read(dev.allocate(8192), 1 << 20)), MemberOp.READ, 1 << 20, 8192);
        await(write4k(0, 2));
        await(dev.flush());
        await(dev.discard(4096, 4096));
        assertThat(dev.injectedFaults(MemberOp.READ)).isEqualTo(1);
        assertThat(dev.injectedFaults()).isEqualTo(1);
        dev.setPlan(FaultPlan.healthy());
        assertThat(readBack(dev, 0, 4096)).containsOnly(2);
    }

    @Test
    void failWrites_writesDiscardsAndZeroesFail_andTheDataIsNotWritten() throws Exception {
        await(write4k(0, 7));
        dev.setPlan(FaultPlan.failWrites());
        assertEio(failure(write4k(0, 8)), MemberOp.WRITE, 0, 4096);
        assertEio(failure(dev.discard(0, 4096)), MemberOp.DISCARD, 0, 4096);
        assertEio(failure(dev.writeZeroes(0, 8192)), MemberOp.WRITE_ZEROES, 0, 8192);
        await(dev.flush());
        assertThat(readBack(dev, 0, 4096)).as("a failed write changed nothing").containsOnly(7);
        assertThat(dev.injectedFaults(MemberOp.WRITE)).isEqualTo(1);
        assertThat(dev.injectedFaults(MemberOp.DISCARD)).isEqualTo(1);
        assertThat(dev.injectedFaults(MemberOp.WRITE_ZEROES)).isEqualTo(1);
        assertThat(dev.stats().errors()).isEqualTo(3);
    }

    @Test
    void failAfter_nextNOperationsPassThenAllFail() throws Exception {
        dev.setPlan(FaultPlan.failAfter(3, EnumSet.of(MemberOp.WRITE)));
        for (int i = 0; i < 3; i++) {
            await(write4k(i * 4096L, i + 1));
        }
        for (int i = 3; i < 6; i++) {
            assertEio(failure(write4k(i * 4096L, i + 1)), MemberOp.WRITE, i * 4096L, 4096);
        }
        assertThat(readBack(dev, 0, 4096)).as("reads are not counted nor failed").containsOnly(1);
        assertThat(dev.injectedFaults()).isEqualTo(3);
        // Re-installing the plan restarts the countdown.
        dev.setPlan(FaultPlan.failAfter(1));
        await(dev.flush());
        assertEio(failure(dev.read(dev.allocate(4096), 0)), MemberOp.READ, 0, 4096);
    }

    @Test
    void failAfter_countsConcurrentOperationsExactly() throws Exception {
        dev.setPlan(FaultPlan.failAfter(100, EnumSet.of(MemberOp.WRITE)));
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < 250; i++) {
            all.add(write4k((i % 1000) * 4096L, i));
        }
        int failed = 0;
        for (CompletableFuture<Void> f : all) {
            try {
                await(f);
            } catch (MemberIoException e) {
                failed++;
            }
        }
        assertThat(failed).isEqualTo(150);
        assertThat(dev.injectedFaults(MemberOp.WRITE)).isEqualTo(150);
    }

    @Test
    void failRange_onlyRequestsTouchingTheRangeFail() throws Exception {
        long bad = 1 << 20;
        dev.setPlan(FaultPlan.failRange(bad, 8192, EnumSet.of(MemberOp.READ, MemberOp.WRITE)));
        assertEio(failure(dev.read(dev.allocate(4096), bad + 4096)), MemberOp.READ, bad + 4096, 4096);
        assertEio(failure(dev.read(dev.allocate(1 << 20), 0 + 4096)), MemberOp.READ, 4096, 1 << 20);
        await(dev.read(dev.allocate(4096), bad - 4096));
        await(dev.read(dev.allocate(4096), bad + 8192));
        assertEio(failure(write4k(bad, 1)), MemberOp.WRITE, bad, 4096);
        await(write4k(bad + 8192, 1));
        await(dev.discard(bad, 8192));
        await(dev.flush());
        assertThat(dev.injectedFaults()).isEqualTo(3);
    }

    @Test
    void gone_everyOperationFails() throws Exception {
        dev.setPlan(FaultPlan.gone());
        assertEio(failure(dev.read(dev.allocate(4096), 0)), MemberOp.READ, 0, 4096);
        assertEio(failure(write4k(0, 1)), MemberOp.WRITE, 0, 4096);
        assertEio(failure(dev.flush()), MemberOp.FLUSH, 0, 0);
        assertEio(failure(dev.discard(0, 4096)), MemberOp.DISCARD, 0, 4096);
        assertEio(failure(dev.writeZeroes(0, 4096)), MemberOp.WRITE_ZEROES, 0, 4096);
        assertThat(dev.injectedFaults()).isEqualTo(5);
        for (MemberOp op : MemberOp.values()) {
            assertThat(dev.injectedFaults(op)).isEqualTo(1);
        }
        assertThat(dev.plan().deviceGone()).isTrue();
    }

    @Test
    void injectedFailure_completesOnTheIoExecutorNotTheCaller() throws Exception {
        dev.setPlan(FaultPlan.failReads());
        // Occupy every I/O thread, so a failure completed inline would show as an already-done future.
        CountDownLatch release = new CountDownLatch(1);
        for (int i = 0; i < 4; i++) {
            io.execute(() -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        CompletableFuture<Void> f = dev.read(dev.allocate(4096), 0);
        assertThat(f).isNotDone();
        AtomicReference<String> completedOn = new AtomicReference<>();
        CountDownLatch called = new CountDownLatch(1);
        f.whenComplete((v, t) -> {
            completedOn.set(Thread.currentThread().getName());
            called.countDown();
        });
        release.countDown();
        // Wait on a latch, not on f: CompletableFuture.get() may itself run pending dependents.
        assertThat(called.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(completedOn).hasValue("member-io");
        assertThat(failure(f).reason()).isEqualTo(Reason.IO_ERROR);
    }

    @Test
    void switchingAtRuntime_underLoad_takesEffectForLaterOperations() throws Exception {
        List<CompletableFuture<Void>> before = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            before.add(write4k(i * 4096L, 5));
        }
        dev.setPlan(FaultPlan.failWrites());
        List<CompletableFuture<Void>> after = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            after.add(write4k(i * 4096L, 6));
        }
        dev.setPlan(FaultPlan.healthy());
        for (CompletableFuture<Void> f : before) {
            await(f);
        }
        for (CompletableFuture<Void> f : after) {
            assertThat(failure(f).reason()).isEqualTo(Reason.IO_ERROR);
        }
        assertThat(readBack(dev, 0, 100 * 4096)).containsOnly(5);
        await(write4k(0, 9));
        assertThat(readBack(dev, 0, 4096)).containsOnly(9);
        assertThat(dev.injectedFaults(MemberOp.WRITE)).isEqualTo(100);
    }

    @Test
    void fail_selectedOpsOnly() throws Exception {
        dev.setPlan(FaultPlan.fail(Set.of(MemberOp.FLUSH)));
        assertEio(failure(dev.flush()), MemberOp.FLUSH, 0, 0);
        await(write4k(0, 1));
        assertThat(dev.injectedFaults()).isEqualTo(1);
    }
}
