package io.clustermd.nbd.codec;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

import static io.clustermd.nbd.codec.NbdProtocol.*;

/**
 * Pure functions that build the server's wire messages. Each returns a new buffer holding exactly
 * one message (or, for data-carrying replies, the header that precedes the caller's data buffer,
 * so read data is never copied).
 */
public final class NbdEncoding {
    private NbdEncoding() {}

    /** Size of the greeting: NBDMAGIC, IHAVEOPT, u16 handshake flags. */
    public static final int GREETING_SIZE = 18;
    /** Size of an option reply header: magic, option, type, length. */
    public static final int OPTION_REPLY_HEADER_SIZE = 20;

    /** The fixed-newstyle greeting. */
    public static ByteBuf greeting(ByteBufAllocator alloc, int handshakeFlags) {
        ByteBuf b = alloc.buffer(GREETING_SIZE);
        b.writeLong(NBD_MAGIC);        // 0: "NBDMAGIC"
        b.writeLong(NBD_OPTS_MAGIC);   // 8: "IHAVEOPT"
        b.writeShort(handshakeFlags);  // 16: NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES
        return b;
    }

    /** An option reply with the given data bytes (may be empty). */
    public static ByteBuf optionReply(ByteBufAllocator alloc, int option, int replyType, byte[] data) {
        ByteBuf b = alloc.buffer(OPTION_REPLY_HEADER_SIZE + data.length);
        b.writeLong(NBD_REP_MAGIC);    // 0: reply magic
        b.writeInt(option);            // 8: the option being answered
        b.writeInt(replyType);         // 12: NBD_REP_*
        b.writeInt(data.length);       // 16: length of data
        b.writeBytes(data);            // 20: data
        return b;
    }

    /** An error option reply carrying a UTF-8 message, as the spec allows. */
    public static ByteBuf optionError(ByteBufAllocator alloc, int option, int errorType, String message) {
        return optionReply(alloc, option, errorType, truncatedUtf8(message));
    }

    /** NBD_REP_SERVER for NBD_OPT_LIST: u32 name length, name, description. */
    public static ByteBuf serverReply(ByteBufAllocator alloc, String name, String description) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] d = description == null ? new byte[0] : truncatedUtf8(description);
        byte[] data = new byte[4 + n.length + d.length];
        putInt(data, 0, n.length);
        System.arraycopy(n, 0, data, 4, n.length);
        System.arraycopy(d, 0, data, 4 + n.length, d.length);
        return optionReply(alloc, NBD_OPT_LIST, NBD_REP_SERVER, data);
    }

    /** NBD_REP_INFO / NBD_INFO_EXPORT: u16 type, u64 size, u16 transmission flags. */
    public static ByteBuf infoExport(ByteBufAllocator alloc, int option, long size, int transmissionFlags) {
        byte[] data = new byte[12];
        putShort(data, 0, NBD_INFO_EXPORT);
        putLong(data, 2, size);
        putShort(data, 10, transmissionFlags);
        return optionReply(alloc, option, NBD_REP_INFO, data);
    }

    /** NBD_REP_INFO / NBD_INFO_NAME or NBD_INFO_DESCRIPTION: u16 type, string. */
    public static ByteBuf infoString(ByteBufAllocator alloc, int option, int infoType, String value) {
        byte[] s = truncatedUtf8(value);
        byte[] data = new byte[2 + s.length];
        putShort(data, 0, infoType);
        System.arraycopy(s, 0, data, 2, s.length);
        return optionReply(alloc, option, NBD_REP_INFO, data);
    }

    /** NBD_REP_INFO / NBD_INFO_BLOCK_SIZE: u16 type, u32 minimum, u32 preferred, u32 maximum. */
    public static ByteBuf infoBlockSize(ByteBufAllocator alloc, int option, int minimum, int preferred, int maximum) {
        byte[] data = new byte[14];
        putShort(data, 0, NBD_INFO_BLOCK_SIZE);
        putInt(data, 2, minimum);
        putInt(data, 6, preferred);
        putInt(data, 10, maximum);
        return optionReply(alloc, option, NBD_REP_INFO, data);
    }

    /** NBD_REP_META_CONTEXT: u32 context id, name. */
    public static ByteBuf metaContext(ByteBufAllocator alloc, int option, int contextId, String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        byte[] data = new byte[4 + n.length];
        putInt(data, 0, contextId);
        System.arraycopy(n, 0, data, 4, n.length);
        return optionReply(alloc, option, NBD_REP_META_CONTEXT, data);
    }

    /** Reply to NBD_OPT_EXPORT_NAME (no option-reply header): u64 size, u16 flags, [124 zeroes]. */
    public static ByteBuf exportNameReply(ByteBufAllocator alloc, long size, int transmissionFlags, boolean noZeroes) {
        ByteBuf b = alloc.buffer(noZeroes ? 10 : 134);
        b.writeLong(size);                 // 0: export size
        b.writeShort(transmissionFlags);   // 8: transmission flags
        if (!noZeroes) {
            b.writeZero(124);              // 10: reserved zeroes
        }
        return b;
    }

    /** Simple reply header (16 bytes); a successful READ's data follows it. */
    public static ByteBuf simpleReply(ByteBufAllocator alloc, long cookie, int error) {
        ByteBuf b = alloc.buffer(SIMPLE_REPLY_HEADER_SIZE);
        b.writeInt(NBD_SIMPLE_REPLY_MAGIC); // 0: magic
        b.writeInt(error);                  // 4: error (NBD errno)
        b.writeLong(cookie);                // 8: cookie
        return b;
    }

    /**
     * Header of an NBD_REPLY_TYPE_OFFSET_DATA chunk, including its u64 offset: the {@code dataLength}
     * bytes of data follow it.
     */
    public static ByteBuf offsetDataHeader(ByteBufAllocator alloc, long cookie, boolean done, long offset, int dataLength) {
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER_SIZE + 8);
        structuredHeader(b, cookie, done, NBD_REPLY_TYPE_OFFSET_DATA, 8 + dataLength);
        b.writeLong(offset);                // 20: offset of the data
        return b;
    }

    /** NBD_REPLY_TYPE_NONE chunk (only as the final chunk). */
    public static ByteBuf noneChunk(ByteBufAllocator alloc, long cookie) {
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER_SIZE);
        structuredHeader(b, cookie, true, NBD_REPLY_TYPE_NONE, 0);
        return b;
    }

    /** NBD_REPLY_TYPE_ERROR chunk: u32 error, u16 message length, message. */
    public static ByteBuf errorChunk(ByteBufAllocator alloc, long cookie, boolean done, int error, String message) {
        byte[] m = truncatedUtf8(message == null ? "" : message);
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER_SIZE + 6 + m.length);
        structuredHeader(b, cookie, done, NBD_REPLY_TYPE_ERROR, 6 + m.length);
        b.writeInt(error);                  // 20: error
        b.writeShort(m.length);             // 24: message length
        b.writeBytes(m);                    // 26: message
        return b;
    }

    /** NBD_REPLY_TYPE_BLOCK_STATUS chunk: u32 context id, then (u32 length, u32 flags) pairs. */
    public static ByteBuf blockStatusChunk(ByteBufAllocator alloc, long cookie, boolean done, int contextId,
                                           long[] lengths, int[] flags) {
        int n = lengths.length;
        ByteBuf b = alloc.buffer(STRUCTURED_REPLY_HEADER_SIZE + 4 + 8 * n);
        structuredHeader(b, cookie, done, NBD_REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n);
        b.writeInt(contextId);              // 20: metadata context id
        for (int i = 0; i < n; i++) {
            b.writeInt((int) lengths[i]);   // extent length
            b.writeInt(flags[i]);           // NBD_STATE_* flags
        }
        return b;
    }

    private static void structuredHeader(ByteBuf b, long cookie, boolean done, int type, int length) {
        b.writeInt(NBD_STRUCTURED_REPLY_MAGIC); // 0: magic
        b.writeShort(done ? NBD_REPLY_FLAG_DONE : 0); // 4: flags
        b.writeShort(type);                      // 6: chunk type
        b.writeLong(cookie);                     // 8: cookie
        b.writeInt(length);                      // 16: payload length
    }

    /** UTF-8 bytes of s, cut to the spec's 4096-byte string limit on a character boundary. */
    static byte[] truncatedUtf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length <= MAX_STRING_LENGTH) {
            return b;
        }
        int end = MAX_STRING_LENGTH;
        while (end > 0 && (b[end] & 0xC0) == 0x80) {
            end--;
        }
        return java.util.Arrays.copyOf(b, end);
    }

    private static void putShort(byte[] a, int at, int v) {
        a[at] = (byte) (v >>> 8);
        a[at + 1] = (byte) v;
    }

    private static void putInt(byte[] a, int at, int v) {
        putShort(a, at, v >>> 16);
        putShort(a, at + 2, v);
    }

    private static void putLong(byte[] a, int at, long v) {
        putInt(a, at, (int) (v >>> 32));
        putInt(a, at + 4, (int) v);
    }
}
