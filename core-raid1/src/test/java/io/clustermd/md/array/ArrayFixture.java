package io.clustermd.md.array;

import io.clustermd.md.MemberMetadata;
import io.clustermd.md.MemberMetadataReader;
import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberDevices;

import java.nio.file.Path;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * Arrays without a bitmap on member files for tests: O_DIRECT devices on one I/O pool, one
 * scheduler, and every array started here stopped by {@link #close()} (unless {@link #forget} took
 * it back, as a test that simulates a crash does).
 */
final class ArrayFixture implements AutoCloseable {

    /** Wraps the device of the {@code index}-th planned member. */
    interface Wrap {
        MemberDevice apply(int index, MemberDevice device);
    }

    final ExecutorService io = Executors.newFixedThreadPool(8);
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final List<MdArray> arrays = new ArrayList<>();

    MdArray start(List<Path> paths, Wrap wrap, long minKiB, long maxKiB, SyncCheckpointStore store)
            throws Exception {
        List<MemberMetadata> metadata = new ArrayList<>();
        for (Path p : paths) {
            metadata.add(MemberMetadataReader.read(p));
        }
        AssemblyPlan plan = ArrayAssembler.plan(metadata);
        List<MemberDevice> devices = new ArrayList<>();
        for (AssemblyPlan.Planned p : plan.members()) {
            devices.add(wrap.apply(devices.size(), MemberDevices.open(Path.of(p.metadata().device()), true, io)));
        }
        long syncBytes = MdArray.personalityOf(plan.reference()).syncBytes(plan.reference().size() * 512);
        MdArray array = MdArray.start(plan, devices, new NoBitmapOps(syncBytes), new MdArray.Settings("t",
                InstantSource.system(), new Random(11), scheduler, new LocalClusterOperations(), minKiB, maxKiB, store));
        arrays.add(array);
        return array;
    }

    /** The test stops (or abandons) this array itself. */
    void forget(MdArray array) {
        arrays.remove(array);
    }

    @Override
    public void close() {
        arrays.forEach(MdArray::stop);
        io.shutdownNow();
        scheduler.shutdownNow();
    }
}
