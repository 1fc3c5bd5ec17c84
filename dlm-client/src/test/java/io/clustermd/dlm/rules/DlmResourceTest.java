package io.clustermd.dlm.rules;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The LVB transfer rule for every conversion (fs/dlm/lock.c dlm_lvb_operations), on the bare resource. */
class DlmResourceTest {
    private static final int VALBLK = LockFlag.VALBLK.value();

    static Stream<Arguments> conversions() {
        List<Arguments> all = new ArrayList<>();
        for (LockMode from : LockMode.values()) {
            for (LockMode to : LockMode.values()) {
                all.add(Arguments.of(from, to));
            }
        }
        return all.stream();
    }

    /** What the kernel's table says, spelled out: up from NL..PR reads, down from PW/EX writes, PW→EX reads. */
    private static String expected(LockMode from, LockMode to) {
        if (from == LockMode.PW && to == LockMode.EX) {
            return "read";
        }
        if (from == LockMode.PW || from == LockMode.EX) {
            return "write";
        }
        return to.value() >= from.value() ? "read" : "none";
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("conversions")
    void convert_withValblk_readsOrWritesLvbPerKernelTable(LockMode from, LockMode to) {
        DlmResource r = new DlmResource();
        r.lvb = new byte[32];
        r.lvb[0] = 1;
        LockEntry e = new LockEntry("n", 1);
        assertThat(r.request(e, from, 0, 1, DlmResource.Events.NONE)).isEqualTo(DlmResource.Outcome.GRANTED);
        byte[] mine = new byte[32];
        mine[0] = 2;
        assertThat(r.convert(e, to, VALBLK, mine, 2, DlmResource.Events.NONE)).isEqualTo(DlmResource.Outcome.GRANTED);
        switch (expected(from, to)) {
            case "read" -> {
                assertThat(e.lvbOut).isNotNull();
                assertThat(e.lvbOut[0]).isEqualTo((byte) 1);
                assertThat(r.lvb[0]).isEqualTo((byte) 1);
            }
            case "write" -> {
                assertThat(e.lvbOut).isNull();
                assertThat(r.lvb[0]).isEqualTo((byte) 2);
                assertThat(r.lvbSeq).isEqualTo(1);
            }
            default -> {
                assertThat(e.lvbOut).isNull();
                assertThat(r.lvb[0]).isEqualTo((byte) 1);
            }
        }
    }
}
