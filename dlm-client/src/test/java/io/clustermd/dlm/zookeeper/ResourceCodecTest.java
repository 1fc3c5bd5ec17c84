package io.clustermd.dlm.zookeeper;

import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.rules.DlmResource;
import io.clustermd.dlm.rules.LockEntry;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The resource znode format: what is encoded decodes to the same queues and LVB. */
class ResourceCodecTest {

    @Property(tries = 300)
    void decodeOfEncode_isIdentity(@ForAll @IntRange(max = 5) int granted, @ForAll @IntRange(max = 5) int waiting,
                                   @ForAll long seq, @ForAll boolean lvbPresent, @ForAll boolean invalid) {
        DlmResource r = new DlmResource();
        r.lvbSeq = seq;
        r.lvbInvalid = invalid;
        if (lvbPresent) {
            r.lvb = new byte[32];
            r.lvb[31] = (byte) seq;
        }
        for (int i = 0; i < granted; i++) {
            LockEntry e = new LockEntry("node-" + i, i + seq);
            e.grmode = LockMode.values()[i % 6];
            e.highBast = i % 2 == 0 ? null : LockMode.EX;
            e.bastSeq = i;
            e.grantSeq = seq;
            e.lvbOut = i % 2 == 0 ? new byte[32] : null;
            r.granted.add(e);
        }
        for (int i = 0; i < waiting; i++) {
            LockEntry e = new LockEntry("w\u00e9-" + i, -i);
            e.rqmode = LockMode.values()[(i + 3) % 6];
            e.flags = 0x19;
            e.reqSeq = i;
            e.lvbIn = new byte[32];
            r.waiting.add(e);
        }
        byte[] bytes = ResourceCodec.encode(r);
        DlmResource back = ResourceCodec.decode(bytes);
        assertThat(ResourceCodec.encode(back)).isEqualTo(bytes);
        assertThat(back.granted).hasSize(granted);
        assertThat(back.waiting).hasSize(waiting);
        assertThat(back.lvbInvalid).isEqualTo(invalid);
        assertThat(back.lvb == null).isEqualTo(!lvbPresent);
    }

    @Property(tries = 50)
    void decode_ofTruncatedData_failsWithClearMessage(@ForAll @IntRange(min = 1, max = 40) int cut) {
        DlmResource r = new DlmResource();
        LockEntry e = new LockEntry("n", 1);
        e.grmode = LockMode.EX;
        r.granted.add(e);
        byte[] bytes = ResourceCodec.encode(r);
        byte[] truncated = java.util.Arrays.copyOf(bytes, Math.max(1, bytes.length - cut));
        assertThatThrownBy(() -> ResourceCodec.decode(truncated)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("corrupt");
    }
}
