package io.clustermd.daemon.systemd;

import jnr.ffi.LibraryLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The service manager's notification protocol ({@code sd_notify(3)}): one datagram of
 * {@code KEY=VALUE} lines to the unix socket named by {@code $NOTIFY_SOCKET} (a path, or an
 * abstract socket when it starts with '@'). A unit with {@code Type=notify} is "started" when it
 * gets {@code READY=1}; {@code STATUS=} is what {@code systemctl status} shows; {@code WATCHDOG=1}
 * keeps a unit with {@code WatchdogSec=} from being killed as hung.
 *
 * <p>Without {@code $NOTIFY_SOCKET} (not started by systemd) every call does nothing. Sends never
 * block ({@code MSG_DONTWAIT}): a full socket loses a notification, never stalls the caller.
 */
public final class SystemdNotifier implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SystemdNotifier.class);

    /** {@code AF_UNIX}. */
    private static final int AF_UNIX = 1;
    /** {@code SOCK_DGRAM | SOCK_CLOEXEC}. */
    private static final int SOCK_DGRAM_CLOEXEC = 2 | 0x80000;
    /** {@code MSG_DONTWAIT | MSG_NOSIGNAL}. */
    private static final int SEND_FLAGS = 0x40 | 0x4000;
    /** {@code sizeof(sun_path)} in {@code struct sockaddr_un}. */
    private static final int SUN_PATH_BYTES = 108;

    /** The libc calls used, bound with jnr-ffi. */
    public interface LibC {
        int socket(int domain, int type, int protocol);

        long sendto(int fd, byte[] buf, long len, int flags, byte[] addr, int addrlen);

        int close(int fd);
    }

    /** Does nothing: not started by a service manager. */
    public static final SystemdNotifier NONE = new SystemdNotifier(null, null, -1, null);

    private final LibC libc;
    private final byte[] address;
    private final int fd;
    private final Duration watchdog;
    private volatile boolean failedOnce;

    private SystemdNotifier(LibC libc, byte[] address, int fd, Duration watchdog) {
        this.libc = libc;
        this.address = address;
        this.fd = fd;
        this.watchdog = watchdog;
    }

    /**
     * From the environment of this process: {@code NOTIFY_SOCKET}, and {@code WATCHDOG_USEC} when
     * {@code WATCHDOG_PID} is unset or names this process.
     */
    public static SystemdNotifier fromEnvironment(Map<String, String> env, long pid) {
        String socket = env.get("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return NONE;
        }
        byte[] address = socketAddress(socket);
        LibC libc = LibraryLoader.create(LibC.class).failImmediately().load("c");
        int fd = libc.socket(AF_UNIX, SOCK_DGRAM_CLOEXEC, 0);
        if (fd < 0) {
            log.warn("cannot tell the service manager our state: socket(AF_UNIX, SOCK_DGRAM) failed");
            return NONE;
        }
        return new SystemdNotifier(libc, address, fd, watchdogInterval(env, pid).orElse(null));
    }

    /**
     * The service manager's watchdog timeout ({@code WATCHDOG_USEC}), if it watches this process:
     * {@code WATCHDOG=1} must come more often than that (sd_watchdog_enabled(3)).
     */
    static Optional<Duration> watchdogInterval(Map<String, String> env, long pid) {
        String usec = env.get("WATCHDOG_USEC");
        if (usec == null) {
            return Optional.empty();
        }
        String forPid = env.get("WATCHDOG_PID");
        try {
            if (forPid != null && Long.parseLong(forPid.trim()) != pid) {
                return Optional.empty();
            }
            long us = Long.parseLong(usec.trim());
            return us > 0 ? Optional.of(Duration.ofNanos(us * 1000)) : Optional.empty();
        } catch (NumberFormatException e) {
            log.warn("ignoring WATCHDOG_USEC='{}' / WATCHDOG_PID='{}': not numbers", usec, forPid);
            return Optional.empty();
        }
    }

    /**
     * {@code struct sockaddr_un} for {@code path}: family, then the path NUL-terminated, or for an
     * abstract socket ('@name') a NUL followed by the name (its length is the address length).
     */
    static byte[] socketAddress(String path) {
        byte[] name = path.getBytes(StandardCharsets.UTF_8);
        boolean abstractName = name[0] == '@';
        if (name.length >= SUN_PATH_BYTES) {
            throw new IllegalArgumentException("NOTIFY_SOCKET is longer than " + (SUN_PATH_BYTES - 1) + " bytes: " + path);
        }
        if (!abstractName && name[0] != '/') {
            throw new IllegalArgumentException("NOTIFY_SOCKET is neither an absolute path nor '@name': " + path);
        }
        byte[] addr = new byte[2 + name.length + (abstractName ? 0 : 1)];
        addr[0] = (byte) AF_UNIX;          // sun_family, little-endian u16
        System.arraycopy(name, 0, addr, 2, name.length);
        if (abstractName) {
            addr[2] = 0;
        }
        return addr;
    }

    /** Whether a service manager listens. */
    public boolean enabled() {
        return fd >= 0;
    }

    /** The interval at which {@link #watchdog()} must be called, or empty when nobody watches. */
    public Optional<Duration> watchdogTimeout() {
        return Optional.ofNullable(watchdog);
    }

    /** {@code READY=1} with a status line: the array serves. */
    public void ready(String status) {
        send("READY=1\nSTATUS=" + oneLine(status) + "\nMAINPID=" + ProcessHandle.current().pid());
    }

    /** {@code STATUS=...}: what {@code systemctl status} shows. */
    public void status(String status) {
        send("STATUS=" + oneLine(status));
    }

    /** {@code STOPPING=1}: a clean stop has begun. */
    public void stopping(String status) {
        send("STOPPING=1\nSTATUS=" + oneLine(status));
    }

    /** {@code WATCHDOG=1}: alive and serving. */
    public void watchdog() {
        send("WATCHDOG=1");
    }

    private static String oneLine(String s) {
        return s.replace('\n', ' ');
    }

    private void send(String message) {
        if (fd < 0) {
            return;
        }
        byte[] buf = message.getBytes(StandardCharsets.UTF_8);
        long sent = libc.sendto(fd, buf, buf.length, SEND_FLAGS, address, address.length);
        if (sent < 0 && !failedOnce) {
            failedOnce = true;   // once: a service manager that went away must not flood the log
            log.warn("could not send '{}' to the service manager's socket (NOTIFY_SOCKET)", message.split("\n")[0]);
        }
    }

    @Override
    public void close() {
        if (fd >= 0) {
            libc.close(fd);
        }
    }
}
