package io.clustermd.md.io;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Helpers shared by the member I/O tests. */
final class IoTesting {
    private IoTesting() {
    }

    /** Creates (or resizes) a sparse file of {@code size} bytes. */
    static Path sparseFile(Path file, long size) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        return file;
    }

    /** Waits for an operation and returns normally, or rethrows its failure as is (unwrapped). */
    static void await(CompletableFuture<Void> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        } catch (TimeoutException e) {
            throw new AssertionError("member operation did not complete in 30 s", e);
        }
    }

    /** Waits for an operation that must fail and returns its MemberIoException. */
    static MemberIoException failure(CompletableFuture<Void> f) throws Exception {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof MemberIoException m) {
                return m;
            }
            throw new AssertionError("failed with something else than MemberIoException", e.getCause());
        }
        throw new AssertionError("operation succeeded but should have failed");
    }

    /** Compares large byte arrays and reports the first difference instead of printing megabytes. */
    static void assertSameBytes(byte[] actual, byte[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + ", expected " + expected.length);
        }
        int i = java.util.Arrays.mismatch(actual, expected);
        if (i >= 0) {
            throw new AssertionError("first difference at byte " + i + ": " + actual[i] + ", expected " + expected[i]);
        }
    }

    static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    /** Reads {@code len} bytes at {@code offset} into a fresh aligned buffer and returns them. */
    static byte[] readBack(MemberDevice dev, long offset, int len) throws Exception {
        ByteBuffer b = dev.allocate(len);
        await(dev.read(b, offset));
        return bytes(b);
    }

    /** An aligned buffer from the device filled with {@code data}. */
    static ByteBuffer filled(MemberDevice dev, byte[] data) {
        ByteBuffer b = dev.allocate(data.length);
        b.put(data).flip();
        return b;
    }
}
