package io.clustermd.daemon.array;

import io.clustermd.md.MdFormatException;
import io.clustermd.md.array.MdArray;
import io.clustermd.md.array.MemberState;
import io.clustermd.md.io.FileMemberDevice;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Notices members whose path no longer names the device the daemon opened (file deleted or
 * replaced, disk unplugged and its name reused): the open descriptor would keep working on a
 * ghost, so the member is failed instead, as md fails a disk that has gone away.
 */
public final class MemberPresenceWatch {

    private static final System.Logger LOG = System.getLogger(MemberPresenceWatch.class.getName());

    private final Map<String, FileMemberDevice> devices = new ConcurrentHashMap<>();
    private final Set<String> reported = ConcurrentHashMap.newKeySet();
    private volatile MdArray array;

    public MemberPresenceWatch(ScheduledExecutorService scheduler, long periodMillis) {
        scheduler.scheduleWithFixedDelay(this::poll, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    public void watch(String name, FileMemberDevice device) {
        devices.put(name, device);
        reported.remove(name);
    }

    public void attach(MdArray running) {
        this.array = running;
    }

    private void poll() {
        MdArray a = array;
        if (a == null) {
            return;
        }
        for (MdArray.MemberView m : a.snapshot().members()) {
            FileMemberDevice d = devices.get(m.device());
            if (d == null || m.state() == MemberState.FAULTY || d.pathStillRefersToDevice()) {
                continue;
            }
            if (reported.add(m.device())) {
                LOG.log(System.Logger.Level.ERROR, "{0}: the path no longer names the member that was opened"
                        + " (deleted, replaced or unplugged): failing it", m.device());
            }
            try {
                a.failMember(m.device()).join();
            } catch (MdFormatException | RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "{0}: cannot fail the vanished member: {1}", m.device(),
                        e.getMessage());
            }
        }
    }
}
