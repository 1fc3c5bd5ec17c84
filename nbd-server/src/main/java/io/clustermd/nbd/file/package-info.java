/** {@link io.clustermd.nbd.BlockBackend} over a regular file or block device (nbdkit's file plugin), O_DIRECT by default. */
package io.clustermd.nbd.file;
