package io.clustermd.dlm.rules;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.Lvb;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Predicate;

/**
 * The DLM rules for one resource, in one place, for every backend that enforces them itself
 * (local and zookeeper): the grant, convert and wait queues, when a request may be granted, the
 * grant pass after a release, blocking callbacks, the LVB transfer rules, and what happens to the
 * locks of a dead node. It follows Linux fs/dlm/lock.c ({@code _can_be_granted},
 * {@code grant_pending_locks}, {@code send_blocking_asts}, {@code set_lvb_lock},
 * {@code set_lvb_unlock}, {@code conversion_deadlock_detect}); the numbers in the comments ("6-4")
 * are the rule numbers of the VAX/VMS DLM design that lock.c cites.
 *
 * <p>Not thread-safe: the caller serialises access (a monitor for local, compare-and-set of the
 * whole state for ZooKeeper). Immediate outcomes are returned; everything that happens to other
 * locks (grants from the grant pass, blocking callbacks) is reported through {@link Events}.
 */
public final class DlmResource {

    /** What a resource tells the owners of its locks. */
    public interface Events {
        /** A waiting request or conversion of {@code entry} was granted (LVB in {@code entry.lvbOut}). */
        void granted(LockEntry entry);

        /** {@code entry} blocks a request for {@code mode}. */
        void blocking(LockEntry entry, LockMode mode);

        /** Events ignored. */
        Events NONE = new Events() {
            @Override
            public void granted(LockEntry entry) {
            }

            @Override
            public void blocking(LockEntry entry, LockMode mode) {
            }
        };
    }

    /** Immediate outcome of an operation. */
    public enum Outcome {
        /** Granted at once. */
        GRANTED,
        /** Queued; a later grant is reported through {@link Events#granted}. */
        QUEUED,
        /** NOQUEUE and not grantable (EAGAIN). */
        NOT_GRANTED,
        /** Conversion deadlock (EDEADLK); the lock keeps its mode. */
        DEADLOCK,
        /** Released. */
        UNLOCKED,
        /** The waiting request or conversion was removed (ECANCEL). */
        CANCELLED,
        /** Nothing was waiting (already granted, or never requested). */
        NOT_PENDING
    }

    /*
     * dlm_lvb_operations: rows = granted mode (IV, NL..EX), columns = requested mode (NL..EX).
     * 1 = the resource LVB is returned to the caller, 0 = the caller's LVB is written to the
     * resource, -1 = nothing.
     */
    private static final int[][] LVB_OPS = {
            //          NL  CR  CW  PR  PW  EX
            /* IV */ {1, 1, 1, 1, 1, 1},
            /* NL */ {1, 1, 1, 1, 1, 1},
            /* CR */ {-1, 1, 1, 1, 1, 1},
            /* CW */ {-1, -1, 1, 1, 1, 1},
            /* PR */ {-1, -1, -1, 1, 1, 1},
            /* PW */ {0, 0, 0, 0, 0, 1},
            /* EX */ {0, 0, 0, 0, 0, 0},
    };

    private static final int VALBLK = LockFlag.VALBLK.value();
    private static final int IVVALBLK = LockFlag.IVVALBLK.value();
    private static final int NOQUEUE = LockFlag.NOQUEUE.value();
    private static final int NOQUEUEBAST = LockFlag.NOQUEUEBAST.value();
    private static final int QUECVT = LockFlag.QUECVT.value();
    private static final int EXPEDITE = LockFlag.EXPEDITE.value();

    /** Granted locks, in grant order. */
    public final List<LockEntry> granted = new ArrayList<>();
    /** Granted locks waiting to convert, FIFO. */
    public final List<LockEntry> converting = new ArrayList<>();
    /** New requests waiting, FIFO. */
    public final List<LockEntry> waiting = new ArrayList<>();
    /** The resource LVB, {@code null} until first written and after the last lock left ({@code res_lvbptr}). */
    public byte[] lvb;
    /** RSB_VALNOTVALID: a PW/EX holder died or IVVALBLK was used since the LVB was last written. */
    public boolean lvbInvalid;
    /** Incremented on every LVB write ({@code res_lvbseq}). */
    public long lvbSeq;

    /** True if no lock of any node is on the resource. */
    public boolean isUnused() {
        return granted.isEmpty() && converting.isEmpty() && waiting.isEmpty();
    }

    /** The entry of {@code owner}'s lock {@code lockId}, in any queue, or {@code null}. */
    public LockEntry find(String owner, long lockId) {
        for (List<LockEntry> q : List.of(granted, converting, waiting)) {
            for (LockEntry e : q) {
                if (e.sameLock(owner, lockId)) {
                    return e;
                }
            }
        }
        return null;
    }

    /**
     * A new request ({@code dlm_ls_lock} without CONVERT) of {@code e} for {@code mode}.
     * The caller has checked the flags; {@code e} is in no queue.
     */
    public Outcome request(LockEntry e, LockMode mode, int flags, long reqSeq, Events events) {
        e.grmode = null;
        e.rqmode = mode;
        e.flags = flags;
        e.reqSeq = reqSeq;
        e.lvbIn = null;
        // 1. EXPEDITE (NL only) jumps every queue; else 2. rule 6-4: grant now only if nothing waits.
        if ((flags & EXPEDITE) != 0 || canBeGranted(e, true)) {
            grant(e);
            granted.add(e);
            return Outcome.GRANTED;
        }
        // 3. NOQUEUE: refuse, telling the holders only if NOQUEUEBAST asks for it.
        if ((flags & NOQUEUE) != 0) {
            if ((flags & NOQUEUEBAST) != 0) {
                sendBlockingAsts(e, events);
            }
            e.rqmode = null;
            return Outcome.NOT_GRANTED;
        }
        // 4. Queue at the end of the wait queue and tell every holder in the way.
        waiting.add(e);
        sendBlockingAsts(e, events);
        return Outcome.QUEUED;
    }

    /**
     * A conversion of the granted lock {@code e} to {@code mode}; {@code lvbIn} is the caller's
     * LVB (written if the conversion goes down from PW/EX with VALBLK).
     */
    public Outcome convert(LockEntry e, LockMode mode, int flags, byte[] lvbIn, long reqSeq, Events events) {
        if (!granted.contains(e)) {
            throw new IllegalStateException("lock " + e + " is not granted; it cannot be converted");
        }
        e.rqmode = mode;
        e.flags = flags;
        e.reqSeq = reqSeq;
        e.lvbIn = lvbIn == null ? null : lvbIn.clone();
        // 1. Rule 6-3: a conversion compatible with every other granted lock is granted at once
        //    (QUECVT asks to line up behind conversions already waiting instead).
        if (canBeGranted(e, true)) {
            grant(e);
            // 2. The old mode may have blocked others, and not only on a down-conversion (CW->PR
            //    lets PR waiters in): run the grant pass, as do_convert_effects does.
            grantPending(events);
            return Outcome.GRANTED;
        }
        // 3. NOQUEUE: refuse without queueing.
        if ((flags & NOQUEUE) != 0) {
            if ((flags & NOQUEUEBAST) != 0) {
                sendBlockingAsts(e, events);
            }
            e.rqmode = null;
            e.lvbIn = null;
            return Outcome.NOT_GRANTED;
        }
        // 4. Two conversions that each wait for the other's granted mode never finish: refuse the
        //    newer one (EDEADLK); the lock keeps its mode.
        if (conversionDeadlock(e)) {
            e.rqmode = null;
            e.lvbIn = null;
            return Outcome.DEADLOCK;
        }
        // 5. Move to the end of the convert queue and tell the holders in the way.
        granted.remove(e);
        converting.add(e);
        sendBlockingAsts(e, events);
        // 6. QUECVT with an empty queue ahead: the grant pass grants it at the head of the queue.
        if ((flags & QUECVT) != 0) {
            grantPending(events);
        }
        return Outcome.QUEUED;
    }

    /**
     * Releases the granted lock {@code e} ({@code dlm_ls_unlock}); writes {@code lvbIn} with VALBLK
     * from PW/EX, invalidates the LVB with IVVALBLK from PW/EX; then runs the grant pass.
     */
    public Outcome unlock(LockEntry e, int flags, byte[] lvbIn, Events events) {
        if (!granted.remove(e)) {
            throw new IllegalStateException("lock " + e + " is not granted; it cannot be unlocked");
        }
        // 1. set_lvb_unlock: only a PW/EX holder writes or invalidates the LVB.
        if (e.grmode == LockMode.PW || e.grmode == LockMode.EX) {
            if ((flags & IVVALBLK) != 0) {
                lvbInvalid = true;
            } else if ((flags & VALBLK) != 0 && lvbIn != null) {
                lvb = lvbIn.clone();
                lvbSeq++;
                lvbInvalid = false;
            }
        }
        e.grmode = null;
        e.rqmode = null;
        // 2. Whoever releases runs the grant pass.
        grantPending(events);
        dropLvbIfUnused();
        return Outcome.UNLOCKED;
    }

    /** Cancels the waiting request or conversion of {@code e} ({@code LKF_CANCEL}). */
    public Outcome cancel(LockEntry e, Events events) {
        if (waiting.remove(e)) {
            // 1. A new request that never got a mode: the lock is gone.
            e.rqmode = null;
        } else if (converting.remove(e)) {
            // 1'. A conversion: back to the granted queue in its old mode.
            e.rqmode = null;
            e.lvbIn = null;
            granted.add(e);
        } else {
            return Outcome.NOT_PENDING;
        }
        // 2. A request that blocked others' way through the queue is gone: grant pass.
        grantPending(events);
        dropLvbIfUnused();
        return Outcome.CANCELLED;
    }

    /**
     * Removes every lock whose owner matches. For a dead or fenced node ({@code died}), a removed
     * lock granted PW or EX marks the LVB invalid, since its holder may have changed what the LVB
     * describes without writing it; a node that leaves cleanly (lockspace released with force)
     * leaves the LVB as it is, as the kernel's force-unlock does. Returns how many were removed.
     */
    public int purge(Predicate<String> owner, boolean died, Events events) {
        int removed = 0;
        for (List<LockEntry> q : List.of(granted, converting, waiting)) {
            for (Iterator<LockEntry> it = q.iterator(); it.hasNext(); ) {
                LockEntry e = it.next();
                if (owner.test(e.owner)) {
                    if (died && (e.grmode == LockMode.PW || e.grmode == LockMode.EX)) {
                        lvbInvalid = true;
                    }
                    it.remove();
                    removed++;
                }
            }
        }
        if (removed > 0) {
            grantPending(events);
            dropLvbIfUnused();
        }
        return removed;
    }

    // ---- the rules ------------------------------------------------------------------------

    /**
     * The value block lives only as long as some lock is on the resource: when the last one goes,
     * the resource and its LVB are forgotten (the kernel frees the LVB of an unused resource; a
     * later reader gets zeros). md-cluster keeps NL locks on every resource whose LVB matters.
     */
    private void dropLvbIfUnused() {
        if (isUnused()) {
            lvb = null;
            lvbInvalid = false;
        }
    }

    /** fs/dlm/lock.c {@code _can_be_granted}; {@code now} = at request time, not in a grant pass. */
    private boolean canBeGranted(LockEntry e, boolean now) {
        boolean conv = e.grmode != null;
        // 6-10: EXPEDITE lets a new NL request pass every queue.
        if (!conv && (e.flags & EXPEDITE) != 0) {
            return true;
        }
        // Never grant what conflicts with a granted mode, including the granted modes of locks
        // waiting to convert.
        if (conflicts(granted, e) || conflicts(converting, e)) {
            return false;
        }
        // 6-3: a compatible conversion is granted at once, unless QUECVT queues it.
        if (now && conv && (e.flags & QUECVT) == 0) {
            return true;
        }
        // 6-3: in the convert queue, the conversion at the head is granted first (FIFO).
        if (!now && conv && !converting.isEmpty() && converting.get(0) == e) {
            return true;
        }
        // 6-4: a new request is granted at once only if no conversion and no request waits.
        if (now && !conv && converting.isEmpty() && waiting.isEmpty()) {
            return true;
        }
        // 6-4: a waiting request is granted only when no conversion waits and it is first.
        return !now && !conv && converting.isEmpty() && !waiting.isEmpty() && waiting.get(0) == e;
    }

    private static boolean conflicts(List<LockEntry> queue, LockEntry e) {
        for (LockEntry other : queue) {
            if (other != e && other.grmode != null && !other.grmode.compatibleWith(e.rqmode)) {
                return true;
            }
        }
        return false;
    }

    /** fs/dlm/lock.c {@code conversion_deadlock_detect}, for {@code e} about to join the queue's end. */
    private boolean conversionDeadlock(LockEntry e) {
        for (LockEntry ahead : converting) {
            // ahead waits for e's granted mode, and e would wait behind ahead.
            if (!e.grmode.compatibleWith(ahead.rqmode)) {
                return true;
            }
        }
        return false;
    }

    /** Grants {@code e}'s requested mode and applies the LVB rule (set_lvb_lock). */
    private void grant(LockEntry e) {
        int row = e.grmode == null ? 0 : e.grmode.value() + 1;
        int op = LVB_OPS[row][e.rqmode.value()];
        e.lvbOut = null;
        if ((e.flags & VALBLK) != 0 || (e.flags & IVVALBLK) != 0) {
            if (op == 1 && (e.flags & VALBLK) != 0) {
                // A resource whose LVB was never written (or was dropped) reads as zeros.
                e.lvbOut = lvb != null ? lvb.clone() : new byte[Lvb.LENGTH];
            } else if (op == 0) {
                if ((e.flags & IVVALBLK) != 0) {
                    lvbInvalid = true;
                } else if ((e.flags & VALBLK) != 0 && e.lvbIn != null) {
                    lvb = e.lvbIn.clone();
                    lvbSeq++;
                    lvbInvalid = false;
                }
            }
        }
        e.lvbOutInvalid = lvbInvalid;
        e.grmode = e.rqmode;
        e.rqmode = null;
        e.lvbIn = null;
        e.highBast = null;
        e.grantSeq = e.reqSeq;
    }

    /** fs/dlm/lock.c {@code grant_pending_locks}: conversions first, then new requests, then BASTs. */
    public void grantPending(Events events) {
        // 1. Grant conversions in queue order; a grant may make the next one grantable: repeat.
        boolean again = true;
        while (again) {
            again = false;
            for (LockEntry e : new ArrayList<>(converting)) {
                if (canBeGranted(e, false)) {
                    converting.remove(e);
                    grant(e);
                    granted.add(e);
                    events.granted(e);
                    again = true;
                }
            }
        }
        // 2. Then waiting new requests, FIFO (only the head can be granted; each grant makes the
        //    next one the head).
        for (LockEntry e : new ArrayList<>(waiting)) {
            if (canBeGranted(e, false)) {
                waiting.remove(e);
                grant(e);
                granted.add(e);
                events.granted(e);
            }
        }
        // 3. Whatever still waits: find the strongest blocked mode and tell the holders in its way.
        LockMode high = null;
        boolean cw = false;
        for (List<LockEntry> q : List.of(converting, waiting)) {
            for (LockEntry e : q) {
                if (high == null || e.rqmode.value() > high.value()) {
                    high = e.rqmode;
                }
                cw |= e.rqmode == LockMode.CW;
            }
        }
        if (high == null) {
            return;
        }
        for (LockEntry g : granted) {
            if (lockRequiresBast(g, high, cw)) {
                bast(g, cw && high == LockMode.PR && g.grmode == LockMode.PR ? LockMode.CW : high, events);
                g.highBast = high;
            }
        }
    }

    /** fs/dlm/lock.c {@code lock_requires_bast}. */
    private static boolean lockRequiresBast(LockEntry g, LockMode high, boolean cw) {
        if (g.grmode == LockMode.PR && cw) {
            return g.highBast == null || g.highBast.value() < LockMode.EX.value();
        }
        return (g.highBast == null || g.highBast.value() < high.value()) && !g.grmode.compatibleWith(high);
    }

    /** fs/dlm/lock.c {@code send_blocking_asts}: on queueing {@code rq}, tell the locks in its way. */
    private void sendBlockingAsts(LockEntry rq, Events events) {
        for (List<LockEntry> q : List.of(granted, converting)) {
            for (LockEntry g : q) {
                if (g == rq || g.grmode == null) {
                    continue;
                }
                // modes_require_bast: PR and CW block each other although neither is "higher".
                boolean crossed = (g.grmode == LockMode.PR && rq.rqmode == LockMode.CW)
                        || (g.grmode == LockMode.CW && rq.rqmode == LockMode.PR);
                boolean needed = crossed
                        || ((g.highBast == null || g.highBast.value() < rq.rqmode.value())
                            && !g.grmode.compatibleWith(rq.rqmode));
                if (needed) {
                    bast(g, rq.rqmode, events);
                    g.highBast = crossed ? LockMode.EX : rq.rqmode;
                }
            }
        }
    }

    private static void bast(LockEntry g, LockMode mode, Events events) {
        g.bastSeq++;
        g.bastMode = mode;
        events.blocking(g, mode);
    }

    /** Checks an LVB given with a request; {@code null} stays {@code null}. */
    public static byte[] checkedLvb(byte[] lvb) {
        return lvb == null ? null : Lvb.checked(lvb);
    }
}
