package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;

/**
 * One transmission-phase request (the spec's {@code struct nbd_request}, nbdkit's
 * {@code struct nbd_request}), with its WRITE payload already read.
 *
 * <p>{@code payload} is non-null only for an NBD_CMD_WRITE whose length did not exceed the decoder's
 * limit; whoever consumes the request owns it and must release it ({@link #release()}).
 * {@code payloadDiscarded} is true for a WRITE whose payload was too large to buffer: the decoder
 * skipped its bytes so framing is kept, and validation answers it with an error.
 */
public record NbdRequest(int flags, int type, long cookie, long offset, long length, ByteBuf payload,
                         boolean payloadDiscarded) {

    /** A request without payload. */
    public static NbdRequest of(int flags, int type, long cookie, long offset, long length) {
        return new NbdRequest(flags, type, cookie, offset, length, null, false);
    }

    /** Releases the payload, if any. Safe to call more than once per owner only if retained. */
    public void release() {
        ReferenceCounted p = payload;
        if (p != null && p.refCnt() > 0) {
            p.release();
        }
    }
}
