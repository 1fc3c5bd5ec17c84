/** In-memory {@link io.clustermd.nbd.BlockBackend} (nbdkit's memory plugin), the test twin of real storage. */
package io.clustermd.nbd.memory;
