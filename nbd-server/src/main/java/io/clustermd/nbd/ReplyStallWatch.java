package io.clustermd.nbd;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drops a connection whose client stopped reading its replies (nbdkit relies on TCP keepalive and
 * a blocked thread; here a stuck client would hold its buffers and its share of the server budget).
 * Whenever the connection stops taking requests — its reading paused by flow control, or its
 * channel unwritable — and replies are queued for it, the watch checks a few times per timeout
 * whether the queued bytes moved; when they have not moved for the whole timeout, the connection is
 * closed, which fails the queued writes and frees their buffers. A client that reads, however
 * slowly, moves them; nothing queued means nothing to watch.
 *
 * <p>On the channel's event loop; time from the loop's ticker, so tests can advance it.
 */
final class ReplyStallWatch {
    private static final Logger log = LoggerFactory.getLogger(ReplyStallWatch.class);

    private final Channel channel;
    private final long timeoutNanos;
    private ScheduledFuture<?> check;
    private long lastPending;
    private long lastProgressNanos;

    ReplyStallWatch(Channel channel, Duration timeout) {
        this.channel = channel;
        this.timeoutNanos = timeout.toNanos();
    }

    /** The connection stopped taking requests (paused, or unwritable): watch its queued replies. */
    void watch() {
        if (check == null && channel.isActive()) {
            lastPending = pending();
            lastProgressNanos = now();
            schedule();
        }
    }

    private void schedule() {
        check = channel.eventLoop().schedule(this::check, Math.max(1, timeoutNanos / 4), TimeUnit.NANOSECONDS);
    }

    private void check() {
        check = null;
        long p = pending();
        if (p == 0 || !channel.isActive()) {
            return;
        }
        if (p != lastPending) {
            lastPending = p;
            lastProgressNanos = now();
        } else if (now() - lastProgressNanos >= timeoutNanos) {
            log.warn("{}: the client has not read its replies for {} s ({} bytes queued); closing the connection",
                    channel.remoteAddress(), TimeUnit.NANOSECONDS.toSeconds(timeoutNanos), p);
            channel.close();
            return;
        }
        schedule();
    }

    /** Stops watching (the connection closed). */
    void cancel() {
        if (check != null) {
            check.cancel(false);
            check = null;
        }
    }

    private long pending() {
        ChannelOutboundBuffer ob = channel.unsafe().outboundBuffer();
        return ob == null ? 0 : ob.totalPendingWriteBytes();
    }

    private long now() {
        EventExecutor loop = channel.eventLoop();
        return loop.ticker().nanoTime();
    }
}
