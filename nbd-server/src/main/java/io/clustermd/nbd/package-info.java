/**
 * An NBD server on Netty (nbdkit's server half): fixed-newstyle handshake, transmission with
 * out-of-order replies and structured replies, TCP and unix-socket listeners, and the
 * {@link io.clustermd.nbd.BlockBackend} ops table that storage implements. It knows nothing of md.
 */
package io.clustermd.nbd;
