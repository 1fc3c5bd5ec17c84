package io.clustermd.md.cluster;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockMode;
import io.clustermd.dlm.LockResult;
import io.clustermd.dlm.Lockspace;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Messages between the nodes of a clustered array, over three locks of its lockspace:
 * md-cluster.c's {@code sendmsg}/{@code recv_daemon} with the later deadlock fix (message CR→PR).
 * One message at a time cluster-wide (the {@code token}); {@link #send} completes only when every
 * other node has processed the message.
 *
 * <p>Every step is asynchronous: lock completions and blocking callbacks arrive on the lock
 * manager's event thread, and this class never blocks it. Every wait is bounded: a step that does
 * not complete within its timeout is cancelled by the lock manager (never left queued), and the
 * send fails with a message that says which step and which lock. A receiver whose processing fails
 * does not acknowledge, so the sender's wait for acknowledgements times out (md's way of refusing a
 * NEWDISK).
 */
public final class MessageChannel {

    /** Processes one received message; a failed stage means "not acknowledged". */
    @FunctionalInterface
    public interface Receiver {
        CompletionStage<Void> receive(ClusterMessage message);
    }

    private final Lockspace lockspace;
    private volatile int slot;
    private final Duration stepTimeout;
    private final Duration ackTimeout;
    private final Consumer<String> log;

    private LockHandle token;
    private LockHandle message;
    private LockHandle ack;
    private volatile Receiver receiver;

    private final Object stateLock = new Object();
    /** Completes when the previous local holder of the token released it (local FIFO of senders). */
    private CompletableFuture<Void> tokenTail = CompletableFuture.completedFuture(null);
    private boolean receiving;
    private boolean receivePending;
    /** True while this node holds the token: incoming messages wait (md's recv_mutex in lock_comm). */
    private boolean sending;
    /** Completes when no receive is running; a sender that got the token waits for it. */
    private CompletableFuture<Void> receiveIdle = CompletableFuture.completedFuture(null);
    private boolean closed;

    private final AtomicLong sequence = new AtomicLong();
    private final Map<Integer, Long> lastSequenceBySlot = new HashMap<>();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    /** Steps of a send or receive that ran out of time (another node did not answer in time). */
    private final AtomicLong stepTimeouts = new AtomicLong();
    private volatile String waitingFor;

    /**
     * @param lockspace the array's lockspace
     * @param slot this node's bitmap slot (stamped on every message sent), or -1 until
     *     {@link #bindSlot} is called
     * @param stepTimeout the bound of every lock step but the wait for acknowledgements
     * @param ackTimeout how long a sender waits for every node to process its message
     * @param log where events worth a line in the daemon log go
     */
    public MessageChannel(Lockspace lockspace, int slot, Duration stepTimeout, Duration ackTimeout,
                          Consumer<String> log) {
        this.lockspace = Objects.requireNonNull(lockspace, "lockspace");
        this.slot = slot;
        this.stepTimeout = positive(stepTimeout, "step timeout");
        this.ackTimeout = positive(ackTimeout, "ack timeout");
        this.log = Objects.requireNonNull(log, "log");
    }

    private static Duration positive(Duration d, String what) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(what + " must be positive, got " + d);
        }
        return d;
    }

    /**
     * Joins the channel (md's {@code join}, the messaging part):
     * <ol>
     *   <li>token and message at NL (the message lock with VALBLK, to read the LVB later);</li>
     *   <li>token NL→EX: no message is being sent while we arm ack, so a joiner never sees half a
     *       message;</li>
     *   <li>ack CR, with the blocking callback that wakes the receiver;</li>
     *   <li>token EX→NL.</li>
     * </ol>
     * Messages that arrive before {@link #startReceiving} wait for it.
     */
    public CompletableFuture<Void> open() {
        token = lockspace.newLock(ClusterLocks.TOKEN);
        message = lockspace.newLock(ClusterLocks.MESSAGE);
        ack = lockspace.newLock(ClusterLocks.ACK, (lock, mode) -> onAckBlocking(mode));
        return step(token, LockMode.NL, stepTimeout, "joining: token NL", false)
                .thenCompose(r -> step(message, LockMode.NL, stepTimeout, "joining: message NL", false, LockFlag.VALBLK))
                .thenCompose(r -> step(token, LockMode.EX, stepTimeout, "joining: token EX", true))
                .thenCompose(r -> step(ack, LockMode.CR, stepTimeout, "joining: ack CR", false))
                .thenCompose(r -> step(token, LockMode.NL, stepTimeout, "joining: token EX->NL", true))
                .thenApply(r -> null);
    }

    /** Sets this node's slot once it is claimed (the channel is opened before, to claim under the token). */
    public void bindSlot(int claimed) {
        if (claimed < 0 || claimed > 0xff) {
            throw new IllegalArgumentException("slot must be 0..255, got " + claimed);
        }
        slot = claimed;
    }

    /** From now on received messages go to {@code r} (and any that arrived while joining do). */
    public void startReceiving(Receiver r) {
        boolean start;
        synchronized (stateLock) {
            receiver = Objects.requireNonNull(r, "receiver");
            start = receivePending && !receiving && !closed && !sending;
            if (start) {
                receivePending = false;
                startReceiveLocked();
            }
        }
        if (start) {
            receiveOne();
        }
    }

    /** The right to send, held until {@link #release}: md's {@code lock_comm}/{@code unlock_comm}. */
    public final class TokenHold {
        private final CompletableFuture<Void> released;
        private boolean done;

        private TokenHold(CompletableFuture<Void> released) {
            this.released = released;
        }

        /** Sends one message while holding the token (md's {@code __sendmsg}); see {@link MessageChannel#send}. */
        public CompletableFuture<ClusterMessage> send(ClusterMessage m) {
            if (slot < 0) {
                return CompletableFuture.failedFuture(new IllegalStateException("no slot yet: claim one first"));
            }
            return sendHeld(m.stamped(slot, sequence.incrementAndGet()));
        }

        /** Gives the token back (token EX→NL); the next local or remote sender may go. */
        public CompletableFuture<Void> release() {
            synchronized (this) {
                if (done) {
                    return CompletableFuture.completedFuture(null);
                }
                done = true;
            }
            return step(token, LockMode.NL, stepTimeout, "releasing the token", true)
                    .handle((r, e) -> {
                        endSending();
                        released.complete(null);
                        if (e != null) {
                            throw new CompletionException(unwrap(e));
                        }
                        return null;
                    });
        }
    }

    /**
     * Takes the token: md's {@code metadata_update_start} / {@code lock_comm}. Local callers queue
     * in order, then 1. token NL→EX (bounded by the step timeout), 2. wait until this node's
     * receiver is idle, and hold incoming messages until {@link TokenHold#release}.
     */
    public CompletableFuture<TokenHold> acquireToken() {
        CompletableFuture<Void> released = new CompletableFuture<>();
        CompletableFuture<Void> previous;
        synchronized (stateLock) {
            if (closed) {
                return CompletableFuture.failedFuture(new IllegalStateException("the cluster channel is closed"));
            }
            previous = tokenTail;
            tokenTail = released;
        }
        return previous.thenCompose(v -> step(token, LockMode.EX, stepTimeout,
                        "the message token (another node is sending or writing superblocks)", true))
                .thenCompose(r -> {
                    // 2. md's recv_mutex: the message lock is shared with the receiver, which may
                    // still be finishing the previous sender's message; wait for it, then keep
                    // incoming messages waiting until the token is released.
                    CompletableFuture<Void> idle;
                    synchronized (stateLock) {
                        sending = true;
                        idle = receiveIdle;
                    }
                    return idle.thenApply(v -> r);
                })
                .handle((r, e) -> {
                    if (e != null) {
                        endSending();
                        released.complete(null);
                        throw new CompletionException(unwrap(e));
                    }
                    return new TokenHold(released);
                });
    }

    /**
     * Sends {@code m} to every other node and completes when all of them processed it (md's
     * {@code sendmsg}): token, message, release. The returned message carries our slot and its
     * sequence number.
     */
    public CompletableFuture<ClusterMessage> send(ClusterMessage m) {
        return acquireToken().thenCompose(hold -> hold.send(m)
                .handle((sentMessage, e) -> hold.release().handle((v, releaseError) -> {
                    if (e != null) {
                        throw new CompletionException(unwrap(e));
                    }
                    return sentMessage;
                })).thenCompose(f -> f));
    }

    /*
     * Send, with the token held:
     *   1. message NL->EX;
     *   2. write the LVB, message EX->CW with VALBLK: the down-conversion publishes the LVB, and CW
     *      lets the receivers' CR in (they read it) while keeping their PR out;
     *   3. ack CR->EX: every receiver gets a blocking callback; the grant means every one of them
     *      dropped its CR, i.e. processed the message;
     *   4. ack EX->CR;
     *   5. message CW->NL: lets the receivers' PR in, after which they re-arm ack.
     * On failure of 2 or 3 the message lock still goes back to NL (5), so no receiver waits for it.
     */
    private CompletableFuture<ClusterMessage> sendHeld(ClusterMessage m) {
        CompletableFuture<ClusterMessage> result = step(message, LockMode.EX, stepTimeout, "message EX", true)
                .thenCompose(r -> {
                    message.setLvb(ClusterMessageCodec.encode(m));
                    return step(message, LockMode.CW, stepTimeout, "message EX->CW (publish)", true, LockFlag.VALBLK);
                })
                .thenCompose(r -> step(ack, LockMode.EX, ackTimeout,
                        "every node to process " + m + " (ack EX)", true))
                .thenCompose(r -> step(ack, LockMode.CR, stepTimeout, "ack EX->CR", true))
                .thenApply(r -> m);
        return result.handle((ok, e) -> {
            CompletableFuture<LockResult> back = message.grantedMode() == LockMode.NL || message.grantedMode() == null
                    ? CompletableFuture.completedFuture(null)
                    : step(message, LockMode.NL, stepTimeout, "message ->NL", true);
            return back.handle((r, e2) -> {
                if (e != null) {
                    log.accept("cluster: sending " + m + " failed: " + unwrap(e).getMessage());
                    throw new CompletionException(unwrap(e));
                }
                sent.incrementAndGet();
                return ok;
            });
        }).thenCompose(f -> f);
    }

    /** ack's blocking callback (event thread): a sender asks for EX, so a message is waiting. */
    private void onAckBlocking(LockMode requested) {
        if (requested != null && requested != LockMode.EX) {
            return;
        }
        synchronized (stateLock) {
            if (closed) {
                return;
            }
            if (receiving || receiver == null || sending) {
                receivePending = true;
                return;
            }
            startReceiveLocked();
        }
        receiveOne();
    }

    private void startReceiveLocked() {
        receiving = true;
        receiveIdle = new CompletableFuture<>();
    }

    /*
     * Receive one message (md's recv_daemon):
     *   1. message NL->CR with VALBLK: granted at once next to the sender's CW; reads the LVB;
     *   2. process it;
     *   3. ack CR->NL: our part of the sender's EX (skipped if processing failed: no acknowledgement,
     *      so the sender's wait times out, as md refuses a NEWDISK);
     *   4. message CR->PR: waits until the sender is done with the message (CW->NL), so the same
     *      message is never processed twice and no new sender overwrites it before we re-arm;
     *   5. ack ->CR: re-arm for the next message (waits behind the sender's EX). After a refusal
     *      ack is still CR; it goes through NL so that the lock is granted anew, because the lock
     *      manager sends a lock one blocking callback per mode until it is granted again;
     *   6. message ->NL.
     */
    private void receiveOne() {
        CompletableFuture<Boolean> processed = step(message, LockMode.CR, stepTimeout, "message CR (read)", false,
                LockFlag.VALBLK)
                .thenCompose(r -> process(r).handle((v, e) -> {
                    if (e != null) {
                        log.accept("cluster: not acknowledging a message: " + unwrap(e).getMessage());
                        return false;
                    }
                    return true;
                }));
        processed.thenCompose(ok -> (ok ? step(ack, LockMode.NL, stepTimeout, "ack CR->NL", false)
                        : CompletableFuture.<LockResult>completedFuture(null))
                        .thenCompose(r -> untilGranted(() -> step(message, LockMode.PR, ackTimeout,
                                "the sender to finish (message PR)", false)))
                        .thenCompose(r -> ack.grantedMode() == LockMode.NL ? CompletableFuture.<LockResult>completedFuture(null)
                                : step(ack, LockMode.NL, stepTimeout, "ack ->NL before re-arming", false))
                        .thenCompose(r -> untilGranted(() -> step(ack, LockMode.CR, ackTimeout,
                                "re-arming ack (the sender to finish)", false))))
                .handle((r, e) -> {
                    if (e != null) {
                        log.accept("cluster: receiving a message: " + unwrap(e).getMessage());
                    }
                    return message.grantedMode() == LockMode.NL || message.grantedMode() == null
                            ? CompletableFuture.<LockResult>completedFuture(null)
                            : step(message, LockMode.NL, stepTimeout, "message ->NL", false);
                })
                .thenCompose(f -> f)
                .whenComplete((r, e) -> {
                    if (e != null) {
                        log.accept("cluster: releasing the message lock: " + unwrap(e).getMessage());
                    }
                    receiveFinished();
                });
    }

    /**
     * Repeats a step that waits for the sender until it is granted: without ack CR this node would
     * miss every later message, so giving up is not an option while the channel is open. Each
     * timeout is logged, so a wait that lasts is visible.
     */
    private CompletableFuture<LockResult> untilGranted(java.util.function.Supplier<CompletableFuture<LockResult>> step) {
        return step.get()
                .handle((r, e) -> {
                    if (e == null || isClosed()) {
                        return e == null ? CompletableFuture.completedFuture(r)
                                : CompletableFuture.<LockResult>failedFuture(unwrap(e));
                    }
                    log.accept("cluster: still " + unwrap(e).getMessage());
                    return untilGranted(step);
                })
                .thenCompose(f -> f);
    }

    /** After a receive: the next one if a message arrived meanwhile, else let a local sender go. */
    private void receiveFinished() {
        boolean again;
        CompletableFuture<Void> idle = null;
        synchronized (stateLock) {
            again = receivePending && !closed && !sending;
            if (again) {
                receivePending = false;
            } else {
                receiving = false;
                idle = receiveIdle;
            }
        }
        if (again) {
            receiveOne();
        } else {
            idle.complete(null);
        }
    }

    private CompletableFuture<Void> process(LockResult read) {
        if (read.valNotValid() || read.lvb() == null) {
            log.accept("cluster: the message LVB is not valid (its sender died while writing it); ignored");
            return CompletableFuture.completedFuture(null);
        }
        ClusterMessage m;
        try {
            m = ClusterMessageCodec.decode(read.lvb());
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (m.senderSlot() == slot) {
            return CompletableFuture.failedFuture(new IllegalStateException("received " + m
                    + " bearing our own slot " + slot + ": two nodes claim one slot"));
        }
        synchronized (lastSequenceBySlot) {
            Long last = lastSequenceBySlot.get(m.senderSlot());
            if (last != null && last == m.sequence()) {
                return CompletableFuture.completedFuture(null);
            }
            lastSequenceBySlot.put(m.senderSlot(), m.sequence());
        }
        received.incrementAndGet();
        try {
            return receiver.receive(m).toCompletableFuture();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** The token is ours no more: a message that arrived meanwhile is received now. */
    private void endSending() {
        boolean start;
        synchronized (stateLock) {
            sending = false;
            start = receivePending && !receiving && !closed && receiver != null;
            if (start) {
                receivePending = false;
                startReceiveLocked();
            }
        }
        if (start) {
            receiveOne();
        }
    }

    private boolean isClosed() {
        synchronized (stateLock) {
            return closed;
        }
    }

    /** One lock step; fails (with what it waited for) unless granted. Shown in {@link #waitingFor()} meanwhile. */
    private CompletableFuture<LockResult> step(LockHandle h, LockMode mode, Duration timeout, String what,
                                               boolean sending, LockFlag... flags) {
        LockFlag[] all = flags;
        if (h.grantedMode() != null) {
            all = java.util.Arrays.copyOf(flags, flags.length + 1);
            all[flags.length] = LockFlag.CONVERT;
        }
        waitingFor = what;
        CompletableFuture<LockResult> f;
        try {
            f = h.lock(mode, timeout, all);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return f.thenApply(r -> {
            if (Objects.equals(waitingFor, what)) {
                waitingFor = null;
            }
            if (!r.granted()) {
                if (r.status() == io.clustermd.dlm.LockStatus.TIMED_OUT) {
                    stepTimeouts.incrementAndGet();
                }
                throw new CompletionException(new ClusterWaitException("waiting for " + what + " on lock '"
                        + h.resource() + "': " + r.status() + (r.status() == io.clustermd.dlm.LockStatus.TIMED_OUT
                        ? " after " + timeout.toMillis() + " ms" : "") + (r.cause() == null ? "" : " (" + r.cause().getMessage() + ")")));
            }
            return r;
        });
    }

    /** What a step of this channel waits for right now, or {@code null}: for status and logs. */
    public String waitingFor() {
        return waitingFor;
    }

    /** Messages this node sent (acknowledged by every node). */
    public long messagesSent() {
        return sent.get();
    }

    /** Steps of message exchanges that timed out waiting for another node. */
    public long stepTimeouts() {
        return stepTimeouts.get();
    }

    /** Messages this node received and processed. */
    public long messagesReceived() {
        return received.get();
    }

    /** Stops receiving; the locks go with the lockspace (md's {@code leave} frees them the same way). */
    public void close() {
        synchronized (stateLock) {
            closed = true;
        }
    }

    public static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}
