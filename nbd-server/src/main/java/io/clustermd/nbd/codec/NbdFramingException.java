package io.clustermd.nbd.codec;

import io.netty.handler.codec.CorruptedFrameException;

/**
 * The byte stream no longer parses as NBD (bad magic, impossible length): the only case in which
 * the server drops a connection instead of answering with an error, because it can no longer find
 * the start of the next message.
 */
public final class NbdFramingException extends CorruptedFrameException {
    private static final long serialVersionUID = 1L;

    public NbdFramingException(String message) {
        super(message);
    }
}
