package io.clustermd.bitmap;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Where a {@link WriteIntentBitmap} makes its slot durable: md's {@code write_sb_page} /
 * {@code write_page} (md-bitmap.c), which write one 4 KiB "file page" of the slot to every member
 * with {@code raid_disk >= 0 && !Faulty} ({@code next_active_rdev}).
 *
 * <p>The slot image is split into {@link WriteIntentBitmap#PAGE_BYTES}-byte pages exactly as it lies on
 * disk: page {@code i} covers slot bytes {@code [i * 4096, (i + 1) * 4096)}, so page 0 holds the
 * 256-byte {@code bitmap_super_t} followed by the bits of chunks 0 to 30719. An implementation writes the
 * page at member byte offset {@code slotOffset + pageIndex * 4096} (see
 * {@link BitmapGeometry#slotByteOffset}) on every in-sync member and completes the future when the page is
 * durable on all of them (or on every member that is still in the array: failing a member on a write error,
 * as md's {@code md_error} does, is the implementation's business). It completes exceptionally only when no
 * member holds the page durably; the bitmap then fails the writers that waited for that page.
 *
 * <p>Contract, as the bitmap uses it:
 * <ol>
 *   <li>Always a whole page: the buffer has position 0 and limit 4096, also for the slot's last page (the
 *       kernel writes the last page only up to its used bytes rounded to the logical block size; we write
 *       it whole, which the 4 KiB-rounded slot always has room for, and its tail is what was loaded).</li>
 *   <li>The buffer is a read-only view of a direct buffer aligned to 4096 bytes, usable as is for
 *       {@code O_DIRECT}. Its contents do not change until the returned future completes; the
 *       implementation must not keep it after that.</li>
 *   <li>At most one write per page is in flight at a time, so writes of one page never overtake each
 *       other; different pages may be written concurrently.</li>
 *   <li>Never called while the bitmap holds its lock; the future may be completed on any thread,
 *       including synchronously inside this call. Continuations of the bitmap's own futures run on that
 *       thread, so it should not be a thread that must never run other code.</li>
 * </ol>
 */
@FunctionalInterface
public interface BitmapStorage {

    /**
     * Writes page {@code pageIndex} of this node's slot to every in-sync member.
     *
     * @param pageIndex 0-based page of the slot (0 holds the bitmap superblock)
     * @param page      the page's 4096 bytes, read-only, position 0, limit 4096
     * @return completes when the page is durable on the members
     */
    CompletableFuture<Void> writePage(int pageIndex, ByteBuffer page);
}
