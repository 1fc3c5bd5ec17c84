package io.clustermd.dlm.rules;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockMode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random operation sequences on one resource (8 locks of 4 owners: requests, conversions,
 * NOQUEUE, QUECVT, unlocks, cancels, node deaths); after every step the DLM invariants hold:
 * granted modes are pairwise compatible, nothing grantable is left waiting (the head of the
 * convert queue, else the head of the wait queue), queue membership matches the lock's state,
 * and every grant reported is a lock that is now granted.
 */
class DlmResourcePropertyTest {

    @Provide
    Arbitrary<List<Integer>> operations() {
        return Arbitraries.integers().between(0, Integer.MAX_VALUE).list().ofMinSize(1).ofMaxSize(200);
    }

    @Property(tries = 400)
    void randomOperations_keepDlmInvariants(@ForAll("operations") List<Integer> ops) {
        DlmResource r = new DlmResource();
        LockEntry[] locks = new LockEntry[8];
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new LockEntry("owner" + (i % 4), i);
        }
        List<LockEntry> reportedGrants = new ArrayList<>();
        DlmResource.Events events = new DlmResource.Events() {
            @Override
            public void granted(LockEntry entry) {
                reportedGrants.add(entry);
            }

            @Override
            public void blocking(LockEntry entry, LockMode mode) {
                assertThat(entry.grmode).as("blocking callback to a lock that is not granted").isNotNull();
                assertThat(entry.grmode.compatibleWith(mode) && mode != LockMode.CW && mode != LockMode.PR)
                        .as("blocking callback to " + entry + " for a compatible mode " + mode).isFalse();
            }
        };
        long seq = 0;
        for (int op : ops) {
            LockEntry e = locks[op % locks.length];
            LockMode mode = LockMode.values()[(op / 8) % 6];
            int choice = (op / 48) % 10;
            boolean queued = r.converting.contains(e) || r.waiting.contains(e);
            boolean granted = r.granted.contains(e);
            int flags = (choice % 3 == 0) ? LockFlag.NOQUEUE.value() : 0;
            reportedGrants.clear();
            if (choice == 9) {
                String owner = e.owner;
                r.purge(owner::equals, true, events);
                for (LockEntry l : locks) {
                    if (l.owner.equals(owner)) {
                        l.grmode = null;
                        l.rqmode = null;
                    }
                }
            } else if (queued) {
                r.cancel(e, events);
            } else if (granted) {
                if (choice < 4) {
                    r.unlock(e, LockFlag.VALBLK.value(), new byte[32], events);
                } else {
                    if (choice == 8) {
                        flags |= LockFlag.QUECVT.value();
                    }
                    r.convert(e, mode, flags | LockFlag.VALBLK.value(), new byte[32], ++seq, events);
                }
            } else {
                r.request(e, mode, flags | LockFlag.VALBLK.value(), ++seq, events);
            }
            checkInvariants(r, reportedGrants);
        }
    }

    private static void checkInvariants(DlmResource r, List<LockEntry> reportedGrants) {
        List<LockEntry> holders = new ArrayList<>(r.granted);
        holders.addAll(r.converting);
        // 1. Granted modes (including those of locks waiting to convert) are pairwise compatible.
        for (int i = 0; i < holders.size(); i++) {
            for (int j = i + 1; j < holders.size(); j++) {
                assertThat(holders.get(i).grmode.compatibleWith(holders.get(j).grmode))
                        .as("incompatible granted modes " + holders.get(i) + " and " + holders.get(j)).isTrue();
            }
        }
        // 2. Queue membership matches state.
        r.granted.forEach(e -> assertThat(e.grmode != null && e.rqmode == null).as("granted " + e).isTrue());
        r.converting.forEach(e -> assertThat(e.grmode != null && e.rqmode != null).as("converting " + e).isTrue());
        r.waiting.forEach(e -> assertThat(e.grmode == null && e.rqmode != null).as("waiting " + e).isTrue());
        // 3. Nothing grantable is left waiting: the head of the convert queue conflicts with some
        //    other granted mode; with no conversions, the head of the wait queue does.
        if (!r.converting.isEmpty()) {
            LockEntry head = r.converting.get(0);
            assertThat(holders.stream().anyMatch(o -> o != head && !o.grmode.compatibleWith(head.rqmode)))
                    .as("head of convert queue " + head + " could be granted").isTrue();
        } else if (!r.waiting.isEmpty()) {
            LockEntry head = r.waiting.get(0);
            assertThat(holders.stream().anyMatch(o -> !o.grmode.compatibleWith(head.rqmode)))
                    .as("head of wait queue " + head + " could be granted").isTrue();
        }
        // 4. Every reported grant is a granted lock.
        reportedGrants.forEach(e -> assertThat(r.granted).as("reported grant " + e).contains(e));
        // 5. An unused resource has no LVB.
        if (r.isUnused()) {
            assertThat(r.lvb).isNull();
        }
    }
}
