package io.clustermd.md.array;

import io.clustermd.md.io.MemberDevice;
import io.clustermd.md.io.MemberIoStats;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/** A member device that passes everything to another; tests override the operations they hold back. */
abstract class ForwardingMemberDevice implements MemberDevice {

    final MemberDevice device;

    ForwardingMemberDevice(MemberDevice device) {
        this.device = device;
    }

    @Override public String name() { return device.name(); }
    @Override public long sizeBytes() { return device.sizeBytes(); }
    @Override public int alignment() { return device.alignment(); }
    @Override public ByteBuffer allocate(int bytes) { return device.allocate(bytes); }
    @Override public CompletableFuture<Void> read(ByteBuffer dst, long offset) { return device.read(dst, offset); }
    @Override public CompletableFuture<Void> write(ByteBuffer src, long offset, boolean fua) {
        return device.write(src, offset, fua);
    }
    @Override public CompletableFuture<Void> flush() { return device.flush(); }
    @Override public CompletableFuture<Void> discard(long offset, long length) { return device.discard(offset, length); }
    @Override public CompletableFuture<Void> writeZeroes(long offset, long length) {
        return device.writeZeroes(offset, length);
    }
    @Override public MemberIoStats stats() { return device.stats(); }
    @Override public void close() { device.close(); }
}
