package io.clustermd.dlm;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The DLM contract every {@link LockManager} backend must meet: the 6x6 compatibility matrix,
 * grant order, NOQUEUE, conversions, LVB rules, blocking callbacks, cancel, deadlines, many
 * lockers, and refusal of bad use. A backend's test is a small subclass that supplies nodes.
 *
 * <p>Each test opens a fresh lockspace on {@link #nodeCount()} nodes; "node" i is
 * {@code managers().get(i)} (for a backend that cannot run several nodes in one process, several
 * managers of the same node: locks of different managers are still different locks).
 */
public abstract class LockManagerContractTest {
    /** Generous: builds of other modules run on the same 2 cores. */
    protected static final Duration WAIT = Duration.ofSeconds(30);
    private static final AtomicLong LOCKSPACES = new AtomicLong();

    /** The nodes under test; at least 3. */
    protected abstract List<LockManager> managers();

    /** How long a negative check ("still not granted") watches. */
    protected Duration quietPeriod() {
        return Duration.ofMillis(300);
    }

    protected int nodeCount() {
        return 3;
    }

    private Lockspace[] ls;
    private String lsName;

    @BeforeEach
    void openLockspaces(TestInfo info) {
        String method = info.getTestMethod().map(m -> m.getName()).orElse("t");
        lsName = "ct" + LOCKSPACES.incrementAndGet() + "-" + (method.length() > 40 ? method.substring(0, 40) : method);
        List<LockManager> m = managers();
        ls = new Lockspace[nodeCount()];
        for (int i = 0; i < ls.length; i++) {
            ls[i] = m.get(i).openLockspace(lsName, WAIT);
        }
    }

    @org.junit.jupiter.api.AfterEach
    void closeLockspaces() {
        if (ls != null) {
            for (Lockspace l : ls) {
                l.close();
            }
        }
    }

    protected Lockspace node(int i) {
        return ls[i];
    }

    // ---- helpers ------------------------------------------------------------------------------

    protected static LockResult done(CompletableFuture<LockResult> f) {
        try {
            return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new AssertionError("lock operation did not complete within " + WAIT, e);
        }
    }

    protected static LockHandle held(Lockspace ls, String res, LockMode mode, LockFlag... flags) {
        LockHandle h = ls.newLock(res);
        assertThat(done(h.lock(mode, flags)).status()).isEqualTo(LockStatus.GRANTED);
        return h;
    }

    /** Takes a lock whose blocking callbacks are recorded. */
    protected static LockHandle heldWatched(Lockspace ls, String res, LockMode mode, BastLog log) {
        LockHandle h = ls.newLock(res, log);
        assertThat(done(h.lock(mode)).status()).isEqualTo(LockStatus.GRANTED);
        return h;
    }

    /** Waits until the holder was told {@code count} times that someone waits: proof the request is queued. */
    protected static void awaitBlocking(BastLog log, int count) {
        await().atMost(WAIT).until(() -> log.count.get() >= count);
    }

    protected void assertStillWaiting(CompletableFuture<LockResult> f) {
        await().during(quietPeriod()).atMost(quietPeriod().plusSeconds(5)).until(() -> !f.isDone());
    }

    protected static byte[] lvb(String text) {
        byte[] b = new byte[Lvb.LENGTH];
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(t, 0, b, 0, Math.min(t.length, b.length));
        return b;
    }

    /** Records blocking callbacks. */
    protected static final class BastLog implements BlockingCallback {
        final List<LockMode> modes = new CopyOnWriteArrayList<>();
        final AtomicInteger count = new AtomicInteger();

        @Override
        public void blocking(LockHandle lock, LockMode requestedMode) {
            modes.add(requestedMode);
            count.incrementAndGet();
        }
    }

    // ---- compatibility ------------------------------------------------------------------------

    static Stream<Arguments> allModePairs() {
        List<Arguments> pairs = new ArrayList<>();
        for (LockMode held : LockMode.values()) {
            for (LockMode requested : LockMode.values()) {
                pairs.add(Arguments.of(held, requested));
            }
        }
        return pairs.stream();
    }

    @ParameterizedTest(name = "{0} held, {1} requested")
    @MethodSource("allModePairs")
    void request_heldModeVsRequestedMode_grantedExactlyWhenCompatible(LockMode held, LockMode requested) {
        boolean compatible = EXPECTED_COMPAT[held.ordinal()][requested.ordinal()];
        LockHandle a = held(node(0), "r", held);
        LockHandle b = node(1).newLock("r");
        LockResult now = done(b.lock(requested, LockFlag.NOQUEUE));
        assertThat(now.status()).isEqualTo(compatible ? LockStatus.GRANTED : LockStatus.NOT_GRANTED);
        if (compatible) {
            done(b.unlock());
        } else {
            // Queued, it is granted as soon as the holder lets go.
            CompletableFuture<LockResult> waiting = b.lock(requested);
            assertStillWaiting(waiting);
            done(a.unlock());
            assertThat(done(waiting).status()).isEqualTo(LockStatus.GRANTED);
            done(b.unlock());
            return;
        }
        done(a.unlock());
    }

    /** The matrix as libdlm.md / fs/dlm/lock.c state it, written out independently of LockMode. */
    private static final boolean[][] EXPECTED_COMPAT = {
            {true, true, true, true, true, true},
            {true, true, true, true, true, false},
            {true, true, true, false, false, false},
            {true, true, false, true, false, false},
            {true, true, false, false, false, false},
            {true, false, false, false, false, false},
    };

    // ---- grant order --------------------------------------------------------------------------

    @Test
    void noqueue_whenIncompatible_returnsNotGrantedAndQueuesNothing() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        LockResult r = done(b.lock(LockMode.PR, LockFlag.NOQUEUE));
        assertThat(r.status()).isEqualTo(LockStatus.NOT_GRANTED);
        assertThat(b.grantedMode()).isNull();
        done(a.unlock());
        // Nothing of b stayed queued: a third node gets EX at once.
        LockHandle c = node(2).newLock("r");
        assertThat(done(c.lock(LockMode.EX, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.GRANTED);
        assertThat(b.grantedMode()).isNull();
    }

    @Test
    void waitQueue_compatibleNewRequestBehindWaiter_waitsInsteadOfOvertaking() {
        BastLog aBast = new BastLog();
        LockHandle a = heldWatched(node(0), "r", LockMode.PR, aBast);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bEx = b.lock(LockMode.EX);
        LockHandle c = node(2).newLock("r");
        // Wait until b's request is surely queued (the holder has been told), then c's compatible PR
        // must not overtake it (rule 6-4: no starvation of the waiter).
        awaitBlocking(aBast, 1);
        assertThat(done(c.lock(LockMode.PR, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.NOT_GRANTED);
        CompletableFuture<LockResult> cPr = c.lock(LockMode.PR);
        assertStillWaiting(cPr);
        done(a.unlock());
        assertThat(done(bEx).status()).isEqualTo(LockStatus.GRANTED);
        assertStillWaiting(cPr);
        done(b.unlock());
        assertThat(done(cPr).status()).isEqualTo(LockStatus.GRANTED);
    }

    @Test
    void waitQueue_grantsInFifoOrderAsFarAsCompatible() {
        BastLog aBast = new BastLog();
        LockHandle a = node(0).newLock("r", aBast);
        assertThat(done(a.lock(LockMode.EX)).granted()).isTrue();
        // Each request asks for a stronger mode, so the holder gets a new BAST per request: that
        // proves each request is queued before the next one is made.
        LockMode[] modes = {LockMode.CR, LockMode.PR, LockMode.PW, LockMode.EX};
        List<LockHandle> hs = new ArrayList<>();
        List<CompletableFuture<LockResult>> fs = new ArrayList<>();
        for (int i = 0; i < modes.length; i++) {
            LockHandle h = node(1 + i % 2).newLock("r");
            hs.add(h);
            fs.add(h.lock(modes[i]));
            int expected = i + 1;
            await().atMost(WAIT).until(() -> aBast.count.get() >= expected);
        }
        done(a.unlock());
        // CR and PR are compatible and first: granted; PW conflicts with PR: waits, and EX behind it.
        assertThat(done(fs.get(0)).granted()).isTrue();
        assertThat(done(fs.get(1)).granted()).isTrue();
        assertStillWaiting(fs.get(2));
        assertThat(fs.get(3)).isNotDone();
        done(hs.get(1).unlock());
        // PW is compatible with the remaining CR.
        assertThat(done(fs.get(2)).granted()).isTrue();
        assertStillWaiting(fs.get(3));
        done(hs.get(0).unlock());
        assertStillWaiting(fs.get(3));
        done(hs.get(2).unlock());
        assertThat(done(fs.get(3)).granted()).isTrue();
        done(hs.get(3).unlock());
    }

    @Test
    void grantPass_conversionQueue_isServedBeforeWaitQueue() {
        LockHandle a = held(node(0), "r", LockMode.PR);
        LockHandle b = held(node(1), "r", LockMode.PR);
        LockHandle c = node(2).newLock("r");
        CompletableFuture<LockResult> cEx = c.lock(LockMode.EX);
        assertStillWaiting(cEx);
        CompletableFuture<LockResult> aEx = a.convert(LockMode.EX);
        assertStillWaiting(aEx);
        done(b.unlock());
        // The conversion was queued after c's request but is granted first.
        assertThat(done(aEx).granted()).isTrue();
        assertThat(a.grantedMode()).isEqualTo(LockMode.EX);
        assertStillWaiting(cEx);
        done(a.unlock());
        assertThat(done(cEx).granted()).isTrue();
    }

    @Test
    void convert_twoUpConversionsWaitingOnEachOther_secondGetsDeadlockAndKeepsMode() {
        LockHandle a = held(node(0), "r", LockMode.PR);
        LockHandle b = held(node(1), "r", LockMode.PR);
        CompletableFuture<LockResult> aEx = a.convert(LockMode.EX);
        assertStillWaiting(aEx);
        LockResult r = done(b.convert(LockMode.EX));
        assertThat(r.status()).isEqualTo(LockStatus.DEADLOCK);
        assertThat(b.grantedMode()).isEqualTo(LockMode.PR);
        done(b.unlock());
        assertThat(done(aEx).granted()).isTrue();
    }

    @Test
    void convert_downFromExclusive_isGrantedAtOnceAndLetsCompatibleWaitersIn() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bPr = b.lock(LockMode.PR);
        assertStillWaiting(bPr);
        LockResult down = done(a.convert(LockMode.PR));
        assertThat(down.status()).isEqualTo(LockStatus.GRANTED);
        assertThat(a.grantedMode()).isEqualTo(LockMode.PR);
        assertThat(done(bPr).granted()).isTrue();
    }

    @Test
    void convert_cwToPr_grantsWaitersTheOldModeBlocked() {
        // CW->PR is no down-conversion, yet the PR waiter was blocked only by the CW.
        LockHandle a = held(node(0), "r", LockMode.CW);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bPr = b.lock(LockMode.PR);
        assertStillWaiting(bPr);
        assertThat(done(a.convert(LockMode.PR)).granted()).isTrue();
        assertThat(done(bPr).granted()).isTrue();
    }

    @Test
    void convert_upWhenCompatible_isGrantedAtOnce() {
        LockHandle a = held(node(0), "r", LockMode.NL);
        LockHandle b = held(node(1), "r", LockMode.CR);
        assertThat(done(a.convert(LockMode.PW)).granted()).isTrue();
        assertThat(done(a.convert(LockMode.EX, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.NOT_GRANTED);
        assertThat(a.grantedMode()).isEqualTo(LockMode.PW);
        done(b.unlock());
        assertThat(done(a.convert(LockMode.EX, LockFlag.NOQUEUE)).granted()).isTrue();
    }

    @Test
    void expedite_newNlRequest_passesQueuedRequests() {
        BastLog aBast = new BastLog();
        LockHandle a = heldWatched(node(0), "r", LockMode.EX, aBast);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bEx = b.lock(LockMode.EX);
        awaitBlocking(aBast, 1);
        LockHandle c = node(2).newLock("r");
        // NL is compatible with everything, but rule 6-4 still queues it behind the waiter ...
        assertThat(done(c.lock(LockMode.NL, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.NOT_GRANTED);
        // ... unless it is EXPEDITE.
        assertThat(done(c.lock(LockMode.NL, LockFlag.EXPEDITE)).granted()).isTrue();
        done(a.unlock());
        assertThat(done(bEx).granted()).isTrue();
    }

    @Test
    void quecvt_compatibleConversion_waitsBehindQueuedConversion() {
        BastLog xBast = new BastLog();
        LockHandle x = heldWatched(node(0), "r", LockMode.PR, xBast);
        LockHandle a = held(node(1), "r", LockMode.NL);
        LockHandle b = held(node(2), "r", LockMode.NL);
        CompletableFuture<LockResult> bEx = b.convert(LockMode.EX);
        awaitBlocking(xBast, 1);
        CompletableFuture<LockResult> aCr = a.convert(LockMode.CR, LockFlag.QUECVT);
        // Without QUECVT, CR would be granted at once (compatible with PR).
        assertStillWaiting(aCr);
        done(x.unlock());
        assertThat(done(bEx).granted()).isTrue();
        assertStillWaiting(aCr);
        done(b.unlock());
        assertThat(done(aCr).granted()).isTrue();
    }

    @Test
    void twoHandlesOfOneNode_areSeparateLocks() {
        LockHandle a1 = held(node(0), "r", LockMode.EX);
        LockHandle a2 = node(0).newLock("r");
        assertThat(done(a2.lock(LockMode.EX, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.NOT_GRANTED);
        done(a1.unlock());
        assertThat(done(a2.lock(LockMode.EX, LockFlag.NOQUEUE)).granted()).isTrue();
    }

    // ---- LVB ----------------------------------------------------------------------------------

    @Test
    void lvb_writtenOnDownConversionFromEx_isReadByNextGrant() {
        LockHandle a = held(node(0), "r", LockMode.EX, LockFlag.VALBLK);
        a.setLvb(lvb("hello"));
        assertThat(done(a.convert(LockMode.NL, LockFlag.VALBLK)).granted()).isTrue();
        LockHandle b = node(1).newLock("r");
        LockResult r = done(b.lock(LockMode.PR, LockFlag.VALBLK));
        assertThat(r.lvb()).isEqualTo(lvb("hello"));
        assertThat(r.valNotValid()).isFalse();
        assertThat(b.lvb()).isEqualTo(lvb("hello"));
    }

    @Test
    void lvb_writtenOnUnlockFromPw_isReadByUpConversion() {
        LockHandle a = held(node(0), "r", LockMode.PW);
        LockHandle b = held(node(1), "r", LockMode.NL, LockFlag.VALBLK);
        a.setLvb(lvb("v2"));
        done(a.unlock(LockFlag.VALBLK));
        LockResult r = done(b.convert(LockMode.CR, LockFlag.VALBLK));
        assertThat(r.lvb()).isEqualTo(lvb("v2"));
    }

    @Test
    void lvb_notWrittenFromModesBelowPw_norWithoutValblk() {
        LockHandle keeper = held(node(2), "r", LockMode.NL); // keeps the resource, and so its LVB
        LockHandle w = held(node(0), "r", LockMode.EX);
        w.setLvb(lvb("orig"));
        done(w.unlock(LockFlag.VALBLK));
        // PR holder's "write" is ignored (LVB is written only from PW/EX) ...
        LockHandle pr = held(node(1), "r", LockMode.PR);
        pr.setLvb(lvb("fromPR"));
        done(pr.convert(LockMode.NL, LockFlag.VALBLK));
        done(pr.unlock(LockFlag.VALBLK));
        // ... and an EX holder that does not pass VALBLK writes nothing either.
        LockHandle ex = held(node(2), "r", LockMode.EX);
        ex.setLvb(lvb("noValblk"));
        done(ex.unlock());
        LockHandle reader = node(0).newLock("r");
        LockResult r = done(reader.lock(LockMode.CR, LockFlag.VALBLK));
        assertThat(r.lvb()).isEqualTo(lvb("orig"));
    }

    @Test
    void lvb_lastLockReleased_lvbIsForgottenAndReadsAsZeros() {
        LockHandle w = held(node(0), "r", LockMode.EX);
        w.setLvb(lvb("gone"));
        done(w.unlock(LockFlag.VALBLK));
        // Nobody holds the resource now: the DLM drops it with its LVB.
        LockResult r = done(node(1).newLock("r").lock(LockMode.PR, LockFlag.VALBLK));
        assertThat(r.lvb()).isEqualTo(new byte[Lvb.LENGTH]);
        assertThat(r.valNotValid()).isFalse();
    }

    @Test
    void lvb_readWithoutValblk_returnsNoLvb() {
        LockHandle w = held(node(0), "r", LockMode.EX);
        w.setLvb(lvb("x"));
        done(w.unlock(LockFlag.VALBLK));
        LockHandle reader = node(1).newLock("r");
        LockResult r = done(reader.lock(LockMode.PR));
        assertThat(r.lvb()).isNull();
        assertThat(reader.lvb()).isEqualTo(new byte[Lvb.LENGTH]);
    }

    @Test
    void lvb_pwToExConversion_readsAndExToExWrites() {
        LockHandle keeper = held(node(2), "r", LockMode.NL);
        LockHandle w = held(node(0), "r", LockMode.EX);
        w.setLvb(lvb("first"));
        done(w.unlock(LockFlag.VALBLK));
        LockHandle a = held(node(1), "r", LockMode.PW);
        LockResult up = done(a.convert(LockMode.EX, LockFlag.VALBLK));
        assertThat(up.lvb()).isEqualTo(lvb("first"));
        a.setLvb(lvb("second"));
        done(a.convert(LockMode.EX, LockFlag.VALBLK));
        done(a.unlock());
        LockResult r = done(node(2).newLock("r").lock(LockMode.NL, LockFlag.VALBLK));
        assertThat(r.lvb()).isEqualTo(lvb("second"));
    }

    @Test
    void lvb_invalidatedWithIvvalblk_isReportedValNotValidUntilRewritten() {
        LockHandle keeper = held(node(2), "r", LockMode.NL);
        LockHandle a = held(node(0), "r", LockMode.EX);
        a.setLvb(lvb("good"));
        done(a.convert(LockMode.EX, LockFlag.VALBLK));
        done(a.unlock(LockFlag.IVVALBLK));
        LockHandle b = node(1).newLock("r");
        LockResult r = done(b.lock(LockMode.EX, LockFlag.VALBLK));
        assertThat(r.valNotValid()).isTrue();
        b.setLvb(lvb("fresh"));
        done(b.unlock(LockFlag.VALBLK));
        LockResult again = done(node(2).newLock("r").lock(LockMode.PR, LockFlag.VALBLK));
        assertThat(again.valNotValid()).isFalse();
        assertThat(again.lvb()).isEqualTo(lvb("fresh"));
    }

    @Test
    void lvb_queuedRequest_readsLvbWrittenByTheReleasingHolder() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bPr = b.lock(LockMode.PR, LockFlag.VALBLK);
        assertStillWaiting(bPr);
        a.setLvb(lvb("handover"));
        done(a.unlock(LockFlag.VALBLK));
        assertThat(done(bPr).lvb()).isEqualTo(lvb("handover"));
    }

    // ---- blocking callbacks -------------------------------------------------------------------

    @Test
    void blockingCallback_queuedIncompatibleRequest_tellsHolderOnceWithMode() {
        BastLog bast = new BastLog();
        LockHandle a = node(0).newLock("r", bast);
        done(a.lock(LockMode.PR));
        BastLog compatibleBast = new BastLog();
        LockHandle cr = node(2).newLock("r", compatibleBast);
        done(cr.lock(LockMode.CR));
        CompletableFuture<LockResult> b = node(1).newLock("r").lock(LockMode.PW);
        await().atMost(WAIT).until(() -> bast.count.get() == 1);
        if (managers().get(0).reportsBlockingMode()) {
            assertThat(bast.modes).containsExactly(LockMode.PW);
        }
        // A second request for a mode no stronger is no new blocking situation for the holder.
        CompletableFuture<LockResult> c = node(2).newLock("r").lock(LockMode.PW);
        assertStillWaiting(c);
        assertThat(bast.count.get()).isEqualTo(1);
        // CR is compatible with PW: its holder is never told.
        assertThat(compatibleBast.count.get()).isZero();
        // A stronger mode is.
        CompletableFuture<LockResult> d = node(1).newLock("r").lock(LockMode.EX);
        await().atMost(WAIT).until(() -> bast.count.get() == 2);
        done(a.unlock());
        assertThat(done(b).granted()).isTrue();
        assertThat(c).isNotDone();
        assertThat(d).isNotDone();
    }

    @Test
    void blockingCallback_noqueueRequest_tellsNobodyUnlessNoqueuebast() {
        BastLog bast = new BastLog();
        LockHandle a = node(0).newLock("r", bast);
        done(a.lock(LockMode.EX));
        LockHandle b = node(1).newLock("r");
        assertThat(done(b.lock(LockMode.PR, LockFlag.NOQUEUE)).status()).isEqualTo(LockStatus.NOT_GRANTED);
        assertThat(done(b.lock(LockMode.PR, LockFlag.NOQUEUE, LockFlag.NOQUEUEBAST)).status())
                .isEqualTo(LockStatus.NOT_GRANTED);
        await().atMost(WAIT).until(() -> bast.count.get() == 1);
        // Only the NOQUEUEBAST request produced it: the first was not reported late either.
        await().during(quietPeriod()).atMost(quietPeriod().plusSeconds(5)).until(() -> bast.count.get() == 1);
    }

    @Test
    void blockingCallback_holderThatGivesWay_letsWaiterIn() {
        // The md-cluster pattern: the holder converts down when told someone waits.
        LockHandle[] self = new LockHandle[1];
        self[0] = node(0).newLock("r", (lock, mode) -> lock.convert(LockMode.NL));
        done(self[0].lock(LockMode.EX));
        LockResult r = done(node(1).newLock("r").lock(LockMode.EX));
        assertThat(r.granted()).isTrue();
        await().atMost(WAIT).until(() -> self[0].grantedMode() == LockMode.NL);
    }

    // ---- cancel and deadlines -----------------------------------------------------------------

    @Test
    void cancel_waitingRequest_completesCancelledAndLetsOthersIn() {
        BastLog aBast = new BastLog();
        LockHandle a = heldWatched(node(0), "r", LockMode.PR, aBast);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bEx = b.lock(LockMode.EX);
        awaitBlocking(aBast, 1);
        LockHandle c = node(2).newLock("r");
        CompletableFuture<LockResult> cPr = c.lock(LockMode.PR);
        assertStillWaiting(cPr);
        assertThat(b.cancel().join()).isTrue();
        assertThat(done(bEx).status()).isEqualTo(LockStatus.CANCELLED);
        assertThat(b.grantedMode()).isNull();
        // c waited only because of b's EX ahead of it (rule 6-4).
        assertThat(done(cPr).granted()).isTrue();
        done(a.unlock());
    }

    @Test
    void cancel_waitingConversion_keepsOldMode() {
        LockHandle a = held(node(0), "r", LockMode.PR);
        LockHandle b = held(node(1), "r", LockMode.CR);
        CompletableFuture<LockResult> bEx = b.convert(LockMode.EX);
        assertStillWaiting(bEx);
        assertThat(b.cancel().join()).isTrue();
        assertThat(done(bEx).status()).isEqualTo(LockStatus.CANCELLED);
        assertThat(b.grantedMode()).isEqualTo(LockMode.CR);
        assertThat(b.pending()).isFalse();
        done(a.unlock());
        assertThat(done(b.convert(LockMode.EX, LockFlag.NOQUEUE)).granted()).isTrue();
    }

    @Test
    void cancel_nothingPending_returnsFalse() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        assertThat(a.cancel().join()).isFalse();
        assertThat(a.grantedMode()).isEqualTo(LockMode.EX);
        assertThat(node(1).newLock("r").cancel().join()).isFalse();
    }

    @Test
    void deadline_passedWhileWaiting_timesOutAndLeavesNothingQueued() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        LockResult r = done(b.lock(LockMode.EX, Duration.ofMillis(500)));
        assertThat(r.status()).isEqualTo(LockStatus.TIMED_OUT);
        assertThat(b.grantedMode()).isNull();
        assertThat(b.pending()).isFalse();
        done(a.unlock());
        // Nothing of b is left in the queue: c's NOQUEUE EX is granted.
        LockHandle c = node(2).newLock("r");
        assertThat(done(c.lock(LockMode.EX, LockFlag.NOQUEUE)).granted()).isTrue();
        assertThat(b.grantedMode()).isNull();
    }

    @Test
    void deadline_passedWhileConverting_keepsOldMode() {
        LockHandle a = held(node(0), "r", LockMode.PR);
        LockHandle b = held(node(1), "r", LockMode.PR);
        LockResult r = done(b.lock(LockMode.EX, Duration.ofMillis(500), LockFlag.CONVERT));
        assertThat(r.status()).isEqualTo(LockStatus.TIMED_OUT);
        assertThat(b.grantedMode()).isEqualTo(LockMode.PR);
        done(b.unlock());
        assertThat(done(a.convert(LockMode.EX, LockFlag.NOQUEUE)).granted()).isTrue();
    }

    // ---- many ---------------------------------------------------------------------------------

    @Test
    void manyLockers_exclusiveLocksOnSeveralResources_neverOverlap() throws Exception {
        int resources = 3;
        int rounds = rounds();
        AtomicInteger[] inside = new AtomicInteger[resources];
        int[] counters = new int[resources];
        AtomicInteger violations = new AtomicInteger();
        for (int i = 0; i < resources; i++) {
            inside[i] = new AtomicInteger();
        }
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        for (int n = 0; n < nodeCount(); n++) {
            for (int t = 0; t < 2; t++) {
                Lockspace l = node(n);
                int seed = n * 10 + t;
                Thread th = new Thread(() -> {
                    try {
                        for (int i = 0; i < rounds; i++) {
                            int res = (seed + i) % resources;
                            LockHandle h = l.newLock("many" + res);
                            LockResult g = h.lock(LockMode.EX).get(60, TimeUnit.SECONDS);
                            if (!g.granted()) {
                                throw new AssertionError("not granted: " + g);
                            }
                            if (inside[res].incrementAndGet() != 1) {
                                violations.incrementAndGet();
                            }
                            counters[res]++;
                            inside[res].decrementAndGet();
                            h.unlock().get(60, TimeUnit.SECONDS);
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                });
                threads.add(th);
                th.start();
            }
        }
        duringManyLockers(() -> {
            int sum = 0;
            for (int c : counters) {
                sum += c;
            }
            return sum;
        }, nodeCount() * 2 * rounds);
        for (Thread th : threads) {
            th.join(TimeUnit.MINUTES.toMillis(3));
        }
        assertThat(errors).isEmpty();
        assertThat(violations.get()).isZero();
        assertThat(Arrays.stream(counters).sum()).isEqualTo(nodeCount() * 2 * rounds);
    }

    /**
     * Called on the test thread while the many-lockers test runs ({@code progress} counts finished
     * critical sections out of {@code total}): a backend test can break something here.
     */
    protected void duringManyLockers(java.util.function.IntSupplier progress, int total) throws Exception {
    }

    /** Rounds per locker thread in the many-lockers test. */
    protected int rounds() {
        return 50;
    }

    @Test
    void manyResources_eachNodeHoldsItsOwn_allGrantedAtOnce() {
        List<LockHandle> hs = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            for (int n = 0; n < nodeCount(); n++) {
                LockHandle h = node(n).newLock("res-" + i + "-" + n);
                hs.add(h);
            }
        }
        List<CompletableFuture<LockResult>> fs = hs.stream().map(h -> h.lock(LockMode.EX, LockFlag.NOQUEUE)).toList();
        fs.forEach(f -> assertThat(done(f).granted()).isTrue());
        hs.stream().map(LockHandle::unlock).toList().forEach(f -> assertThat(done(f).status()).isEqualTo(LockStatus.UNLOCKED));
    }

    // ---- closing and bad use ------------------------------------------------------------------

    @Test
    void closeLockspace_releasesItsLocksAndFailsPending() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> bEx = b.lock(LockMode.EX);
        LockHandle c = node(2).newLock("r");
        LockHandle c2 = node(2).newLock("r2");
        done(c2.lock(LockMode.EX));
        CompletableFuture<LockResult> cEx = c.lock(LockMode.EX);
        assertStillWaiting(cEx);
        node(1).close();
        assertThat(done(bEx).status()).isEqualTo(LockStatus.FAILED);
        node(0).close();
        assertThat(done(cEx).granted()).isTrue();
        assertThatThrownBy(() -> a.lock(LockMode.NL)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> node(0).newLock("x")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void badUse_namesTooLong_refused() {
        String long65 = "r".repeat(65);
        assertThatThrownBy(() -> node(0).newLock(long65)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("65 bytes").hasMessageContaining("at most 64");
        assertThatThrownBy(() -> node(0).newLock("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> managers().get(0).openLockspace("l".repeat(65)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 64");
        assertThatThrownBy(() -> managers().get(0).openLockspace("a/b")).isInstanceOf(IllegalArgumentException.class);
        // 64 bytes is fine.
        assertThat(done(node(0).newLock("r".repeat(64)).lock(LockMode.EX)).granted()).isTrue();
    }

    @Test
    void badUse_convertUnheldOrRequestHeld_refusedWithoutChangingState() {
        LockHandle a = node(0).newLock("r");
        assertThatThrownBy(() -> a.convert(LockMode.EX)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not held");
        assertThat(done(a.lock(LockMode.PR)).granted()).isTrue();
        assertThatThrownBy(() -> a.lock(LockMode.EX)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("CONVERT");
        assertThat(a.grantedMode()).isEqualTo(LockMode.PR);
        assertThatThrownBy(() -> node(1).newLock("r").unlock()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("not held");
        // State intact: a second node's PR is granted, EX is not.
        assertThat(done(node(1).newLock("r").lock(LockMode.PR, LockFlag.NOQUEUE)).granted()).isTrue();
        assertThat(done(node(2).newLock("r").lock(LockMode.EX, LockFlag.NOQUEUE)).status())
                .isEqualTo(LockStatus.NOT_GRANTED);
    }

    @Test
    void badUse_secondRequestWhileOneInFlight_refusedAsBusy() {
        LockHandle a = held(node(0), "r", LockMode.EX);
        LockHandle b = node(1).newLock("r");
        CompletableFuture<LockResult> first = b.lock(LockMode.EX);
        assertThatThrownBy(() -> b.lock(LockMode.PR)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("in flight").hasMessageContaining("EBUSY");
        assertThatThrownBy(b::unlock).isInstanceOf(IllegalStateException.class);
        done(a.unlock());
        assertThat(done(first).granted()).isTrue();
        assertThat(b.grantedMode()).isEqualTo(LockMode.EX);
    }

    @Test
    void badUse_lvbOfWrongSize_refused() {
        LockHandle a = node(0).newLock("r");
        assertThatThrownBy(() -> a.setLvb(new byte[31])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("exactly 32 bytes").hasMessageContaining("got 31");
        assertThatThrownBy(() -> a.setLvb(new byte[64])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.setLvb(null)).isInstanceOf(IllegalArgumentException.class);
        assertThat(a.lvb()).isEqualTo(new byte[Lvb.LENGTH]);
    }

    @Test
    void badUse_flagCombinations_refused() {
        LockHandle a = node(0).newLock("r");
        assertThatThrownBy(() -> a.lock(LockMode.EX, LockFlag.EXPEDITE)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("EXPEDITE");
        assertThatThrownBy(() -> a.lock(LockMode.EX, LockFlag.QUECVT)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("QUECVT");
        assertThatThrownBy(() -> a.lock(LockMode.EX, LockFlag.NOQUEUEBAST)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> a.lock(LockMode.EX, Duration.ZERO)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("timeout");
        assertThatThrownBy(() -> a.lock(null)).isInstanceOf(IllegalArgumentException.class);
        for (LockFlag f : LockFlag.values()) {
            if (!managers().get(0).supportedFlags().contains(f)) {
                assertThatThrownBy(() -> a.lock(LockMode.NL, f)).isInstanceOf(UnsupportedOperationException.class)
                        .hasMessageContaining(f.name());
            }
        }
        assertThat(a.pending()).isFalse();
        assertThat(done(a.lock(LockMode.EX)).granted()).isTrue();
    }

    @Test
    void badUse_lockspaceOpenedTwiceOnOneNode_refused() {
        assertThatThrownBy(() -> managers().get(0).openLockspace(node(0).name()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already open");
    }
}
