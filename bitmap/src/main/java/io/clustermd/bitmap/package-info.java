/**
 * md's write-intent bitmap (Linux drivers/md/md-bitmap.c and md-bitmap.h): the on-disk bitmap superblock
 * and per-node slots ({@link io.clustermd.bitmap.BitmapSuperblock}, {@link io.clustermd.bitmap.BitmapGeometry}),
 * and the in-memory engine of one slot ({@link io.clustermd.bitmap.WriteIntentBitmap}, md's
 * {@code struct bitmap} + {@code struct bitmap_counts}) that writes through
 * {@link io.clustermd.bitmap.BitmapStorage}. Depends on the JDK only: nothing here knows about arrays,
 * members or NBD.
 */
package io.clustermd.bitmap;
