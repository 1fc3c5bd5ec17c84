/**
 * The NBD wire format: constants ({@code nbd-protocol.h}), decoders for the client's handshake
 * options and transmission requests, and pure encode functions for every server message.
 */
package io.clustermd.nbd.codec;
