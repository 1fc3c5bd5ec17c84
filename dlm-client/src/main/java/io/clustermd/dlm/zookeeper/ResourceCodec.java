package io.clustermd.dlm.zookeeper;

import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.Lvb;
import io.clustermd.dlm.rules.DlmResource;
import io.clustermd.dlm.rules.LockEntry;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The bytes of a resource znode: the LVB and the three queues of a {@link DlmResource}.
 *
 * <pre>
 *  0  u8   format version (1)
 *  1  u8   lvb flags: bit0 = LVB present, bit1 = VALNOTVALID
 *  2  u64  lvb sequence
 * 10  [32] LVB (present or not)
 * 42  3 x (u16 count, count x entry): granted, converting, waiting
 * entry: utf owner, u64 lockId, i8 grmode (-1 = none), i8 rqmode, u32 flags, i8 highBast,
 *        u32 bastSeq, i8 bastMode, u64 reqSeq, u64 grantSeq, u8 has lvbOut, [32], u8 lvbOutInvalid,
 *        u8 has lvbIn, [32]
 * </pre>
 */
final class ResourceCodec {
    private static final int VERSION = 1;

    private ResourceCodec() {
    }

    static byte[] encode(DlmResource r) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(128);
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeByte(VERSION);
            out.writeByte((r.lvb != null ? 1 : 0) | (r.lvbInvalid ? 2 : 0));
            out.writeLong(r.lvbSeq);
            out.write(r.lvb != null ? r.lvb : new byte[Lvb.LENGTH]);
            for (List<LockEntry> q : List.of(r.granted, r.converting, r.waiting)) {
                out.writeShort(q.size());
                for (LockEntry e : q) {
                    out.writeUTF(e.owner);
                    out.writeLong(e.lockId);
                    out.writeByte(mode(e.grmode));
                    out.writeByte(mode(e.rqmode));
                    out.writeInt(e.flags);
                    out.writeByte(mode(e.highBast));
                    out.writeInt(e.bastSeq);
                    out.writeByte(mode(e.bastMode));
                    out.writeLong(e.reqSeq);
                    out.writeLong(e.grantSeq);
                    writeLvb(out, e.lvbOut);
                    out.writeBoolean(e.lvbOutInvalid);
                    writeLvb(out, e.lvbIn);
                }
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static DlmResource decode(byte[] data) {
        DlmResource r = new DlmResource();
        if (data == null || data.length == 0) {
            return r;
        }
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
            int version = in.readUnsignedByte();
            if (version != VERSION) {
                throw new IllegalStateException("lock resource znode has format " + version + ", this clustermd reads "
                        + VERSION + ": all nodes must run the same clustermd version");
            }
            int lvbFlags = in.readUnsignedByte();
            r.lvbSeq = in.readLong();
            byte[] lvb = new byte[Lvb.LENGTH];
            in.readFully(lvb);
            r.lvb = (lvbFlags & 1) != 0 ? lvb : null;
            r.lvbInvalid = (lvbFlags & 2) != 0;
            for (List<LockEntry> q : List.of(r.granted, r.converting, r.waiting)) {
                int n = in.readUnsignedShort();
                for (int i = 0; i < n; i++) {
                    LockEntry e = new LockEntry(in.readUTF(), in.readLong());
                    e.grmode = mode(in.readByte());
                    e.rqmode = mode(in.readByte());
                    e.flags = in.readInt();
                    e.highBast = mode(in.readByte());
                    e.bastSeq = in.readInt();
                    e.bastMode = mode(in.readByte());
                    e.reqSeq = in.readLong();
                    e.grantSeq = in.readLong();
                    e.lvbOut = readLvb(in);
                    e.lvbOutInvalid = in.readBoolean();
                    e.lvbIn = readLvb(in);
                    q.add(e);
                }
            }
            return r;
        } catch (IOException e) {
            throw new IllegalStateException("lock resource znode is corrupt (" + data.length + " bytes): " + e, e);
        }
    }

    private static int mode(LockMode m) {
        return m == null ? -1 : m.value();
    }

    private static LockMode mode(byte b) {
        return b < 0 ? null : LockMode.fromValue(b);
    }

    private static void writeLvb(DataOutputStream out, byte[] lvb) throws IOException {
        out.writeBoolean(lvb != null);
        if (lvb != null) {
            out.write(lvb);
        }
    }

    private static byte[] readLvb(DataInputStream in) throws IOException {
        if (!in.readBoolean()) {
            return null;
        }
        byte[] b = new byte[Lvb.LENGTH];
        in.readFully(b);
        return b;
    }
}
