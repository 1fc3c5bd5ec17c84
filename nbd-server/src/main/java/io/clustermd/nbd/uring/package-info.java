/**
 * File I/O on the io_uring of Netty's io_uring event loops ({@link io.clustermd.nbd.uring.IoUringQueue}): what
 * QEMU's {@code aio=io_uring} does in its main loop. Knows nothing of NBD or md; the file backend and the
 * daemon's member devices submit to it.
 */
package io.clustermd.nbd.uring;
