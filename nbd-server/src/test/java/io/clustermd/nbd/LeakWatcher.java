package io.clustermd.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.clustermd.nbd.file.AlignedBufferPool;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.LoggerFactory;

/**
 * Collects Netty's leak reports (the detector runs at PARANOID in tests and logs "LEAK:" through
 * slf4j) and checks the aligned pool's outstanding count (test helper).
 */
final class LeakWatcher {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

    static {
        Logger l = (Logger) LoggerFactory.getLogger("io.netty.util.ResourceLeakDetector");
        AppenderBase<ILoggingEvent> a = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                if (e.getFormattedMessage().contains("LEAK")) {
                    LEAKS.add(e.getFormattedMessage());
                }
            }
        };
        a.setContext(l.getLoggerContext());
        a.start();
        l.addAppender(a);
    }

    private LeakWatcher() {}

    static void install() {
        // class initialisation does it
    }

    /** Forces collection, lets the detector report, and fails on any leak. */
    static void assertNoLeaks() throws InterruptedException {
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(50);
            // The detector reports while tracking new buffers.
            for (int j = 0; j < 200; j++) {
                ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(16);
                b.release();
                Unpooled.directBuffer(16).release();
            }
        }
        assertThat(LEAKS).as("Netty leak reports").isEmpty();
        assertThat(AlignedBufferPool.SHARED.outstanding()).as("aligned buffers not released").isZero();
    }
}
