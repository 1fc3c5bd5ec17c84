package io.clustermd.md.io;

/**
 * A snapshot of one member's I/O counters, like the per-device numbers md exposes in sysfs
 * ({@code /sys/block/mdX/md/dev-*}) and the block layer's {@code stat} file.
 *
 * @param reads              completed read operations
 * @param writes             completed write operations (FUA ones included)
 * @param bytesRead          bytes of completed reads
 * @param bytesWritten       bytes of completed writes
 * @param flushes            completed flushes
 * @param discards           completed discards
 * @param writeZeroes        completed write-zeroes
 * @param errors             operations that completed with an error (injected ones included)
 * @param misalignedRequests reads and writes whose offset or length was not a multiple of the alignment, so they
 *                           went through an aligned bounce buffer (read-modify-write for writes)
 * @param bufferBounces      aligned requests whose buffer was not aligned direct memory, so the data was copied
 * @param zeroFillFallbacks  discards and write-zeroes done by writing zero blocks because the device or the
 *                           platform had no fallocate for them
 */
public record MemberIoStats(long reads, long writes, long bytesRead, long bytesWritten, long flushes, long discards,
                            long writeZeroes, long errors, long misalignedRequests, long bufferBounces,
                            long zeroFillFallbacks) {
}
