package io.clustermd.md.io;

import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Is fallocate through jnr-ffi worth it for discard and write-zeroes? Times both operations over a fully written
 * range with fallocate and with the pure-Java zero-fill fallback. Not a test; run by hand:
 * {@code java -cp <test classpath> io.clustermd.md.io.ZeroRangeBench FILE [MiB]}.
 */
public final class ZeroRangeBench {
    private ZeroRangeBench() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        long bytes = (args.length > 1 ? Long.parseLong(args[1]) : 256) << 20;
        ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();
        try {
            for (boolean nativeOps : new boolean[] {true, false}) {
                IoTesting.sparseFile(file, bytes);
                FileMemberDevice.Options o = FileMemberDevice.Options.DEFAULT.withNativeFallocate(nativeOps);
                try (FileMemberDevice dev = MemberDevices.open(file, o, io)) {
                    for (MemberOp op : new MemberOp[] {MemberOp.DISCARD, MemberOp.WRITE_ZEROES}) {
                        java.nio.ByteBuffer fill = dev.allocate(8 << 20);
                        for (long at = 0; at < bytes; at += fill.capacity()) {
                            IoTesting.await(dev.write(fill, at, false));
                        }
                        IoTesting.await(dev.flush());
                        long t0 = System.nanoTime();
                        IoTesting.await(op == MemberOp.DISCARD ? dev.discard(0, bytes) : dev.writeZeroes(0, bytes));
                        IoTesting.await(dev.flush());
                        long us = (System.nanoTime() - t0) / 1000;
                        System.out.printf("%-13s %-12s %4d MiB + flush: %,10d us%n",
                                nativeOps ? "fallocate" : "zero-fill", op.label(), bytes >> 20, us);
                    }
                }
            }
        } finally {
            io.shutdown();
        }
    }
}
