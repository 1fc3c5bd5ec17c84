package io.clustermd.md.io;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * Which I/O executor serves a FileMemberDevice best: 4 KiB O_DIRECT random writes at queue depth 32 (32
 * operations always in flight, each completion issuing the next), on a fully written file, for a virtual-thread
 * executor and fixed pools of several sizes. Not a test; run by hand:
 * {@code java -cp <test classpath> io.clustermd.md.io.QueueDepthBench FILE [MiB] [seconds] [rounds]
 * [virtual,fixed-N,...]}.
 *
 * <p>Result on the 2-core development VM (JDK 25, 1 GiB file, 7 interleaved rounds of 3 s, medians): a fixed
 * pool as large as the queue depth is best, 96,900 IOPS at 10.8 us CPU per write; a virtual-thread executor
 * 80,800 IOPS at 13.7 us (each blocking file write pins its carrier and the JDK compensates with extra carriers);
 * fixed-64 85,100 at 13.6 us; fixed-8 48,300 (a thread per write in flight caps the queue depth at 8). So size
 * the pool to the member writes that can be in flight (NBD queue depth x members).
 */
public final class QueueDepthBench {
    private QueueDepthBench() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        long mib = args.length > 1 ? Long.parseLong(args[1]) : 1024;
        int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int depth = 32;
        prefill(file, mib << 20);
        String[] names = args.length > 4 ? args[4].split(",")
                : new String[] {"virtual", "fixed-2", "fixed-4", "fixed-8", "fixed-16", "fixed-32", "fixed-64"};
        for (int round = 1; round <= rounds; round++) {
            for (String name : names) {
                Supplier<ExecutorService> make = name.equals("virtual")
                        ? Executors::newVirtualThreadPerTaskExecutor
                        : () -> Executors.newFixedThreadPool(Integer.parseInt(name.substring(6)));
                ExecutorService io = make.get();
                try (FileMemberDevice dev = MemberDevices.open(file, true, io)) {
                    run(dev, depth, 1, 42); // warm-up
                    long cpu0 = cpuNanos();
                    long ops = run(dev, depth, seconds, round * 1000L + name.hashCode());
                    double cpuPerOp = (cpuNanos() - cpu0) / 1000.0 / Math.max(1, ops);
                    System.out.printf("round %d  %-9s QD%d 4KiB randwrite O_DIRECT: %,9d IOPS  %5.1f us CPU/op%n",
                            round, name, depth, ops / seconds, cpuPerOp);
                } finally {
                    io.shutdown();
                    io.awaitTermination(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    /** CPU time of the whole process (all threads), so executor overhead shows even when the disk is the limit. */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void prefill(Path file, long size) throws Exception {
        if (Files.exists(file) && Files.size(file) == size) {
            return;
        }
        ExecutorService io = Executors.newFixedThreadPool(2);
        IoTesting.sparseFile(file, size);
        try (FileMemberDevice dev = MemberDevices.open(file, true, io)) {
            ByteBuffer b = dev.allocate(8 << 20);
            for (int i = 0; i < b.capacity(); i++) {
                b.put(i, (byte) (i * 31));
            }
            for (long at = 0; at < size; at += b.capacity()) {
                IoTesting.await(dev.write(b, at, false));
            }
            IoTesting.await(dev.flush());
        } finally {
            io.shutdown();
        }
    }

    /** Keeps {@code depth} writes in flight for {@code seconds}; returns how many completed. */
    private static long run(MemberDevice dev, int depth, int seconds, long seed) throws Exception {
        LongAdder done = new LongAdder();
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch drained = new CountDownLatch(depth);
        long blocks = dev.sizeBytes() / 4096;
        for (int i = 0; i < depth; i++) {
            SplittableRandom rnd = new SplittableRandom(seed + i);
            ByteBuffer buf = dev.allocate(4096);
            new Runnable() {
                @Override
                public void run() {
                    if (stop.get()) {
                        drained.countDown();
                        return;
                    }
                    dev.write(buf, 4096L * rnd.nextLong(blocks), false).whenComplete((v, t) -> {
                        if (t != null) {
                            t.printStackTrace();
                            stop.set(true);
                        }
                        done.increment();
                        run();
                    });
                }
            }.run();
        }
        Thread.sleep(seconds * 1000L);
        long n = done.sum();
        stop.set(true);
        drained.await(30, TimeUnit.SECONDS);
        return n;
    }
}
