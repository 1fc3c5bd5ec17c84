package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;

/**
 * One handshake-phase client message: either the client flags that follow the server's greeting,
 * or an option ({@code IHAVEOPT, u32 option, u32 length, data}).
 */
public sealed interface NbdOption {

    /** The client's 32-bit flags word (NBD_FLAG_C_*). */
    record ClientFlags(int flags) implements NbdOption {}

    /**
     * An option with its data. {@code data} is null when the option was longer than the decoder
     * accepts ({@code tooBig}): its bytes were skipped, and the reply is NBD_REP_ERR_TOO_BIG.
     * The receiver owns {@code data} and releases it.
     */
    record Option(int option, ByteBuf data, boolean tooBig) implements NbdOption {
        public void release() {
            if (data != null && data.refCnt() > 0) {
                data.release();
            }
        }
    }
}
