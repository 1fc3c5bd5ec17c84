package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/** Builds the client's side of the wire, byte for byte as the spec lays it out (test helper). */
public final class ClientFrames {
    private ClientFrames() {}

    public static ByteBuf clientFlags(int flags) {
        return Unpooled.buffer(4).writeInt(flags);
    }

    public static ByteBuf option(int option, byte[] data) {
        ByteBuf b = Unpooled.buffer(16 + data.length);
        b.writeLong(NBD_OPTS_MAGIC).writeInt(option).writeInt(data.length).writeBytes(data);
        return b;
    }

    /** NBD_OPT_GO / NBD_OPT_INFO data. */
    public static byte[] goData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf b = Unpooled.buffer();
        b.writeInt(n.length).writeBytes(n).writeShort(infos.length);
        for (int i : infos) {
            b.writeShort(i);
        }
        return bytes(b);
    }

    /** NBD_OPT_{LIST,SET}_META_CONTEXT data. */
    public static byte[] metaData(String name, String... queries) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf b = Unpooled.buffer();
        b.writeInt(n.length).writeBytes(n).writeInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.writeInt(qb.length).writeBytes(qb);
        }
        return bytes(b);
    }

    public static ByteBuf request(int flags, int type, long cookie, long offset, long length, byte[] payload) {
        ByteBuf b = Unpooled.buffer(28 + (payload == null ? 0 : payload.length));
        b.writeInt(NBD_REQUEST_MAGIC).writeShort(flags).writeShort(type).writeLong(cookie).writeLong(offset)
                .writeInt((int) length);
        if (payload != null) {
            b.writeBytes(payload);
        }
        return b;
    }

    public static byte[] bytes(ByteBuf b) {
        byte[] a = new byte[b.readableBytes()];
        b.readBytes(a);
        b.release();
        return a;
    }
}
