package io.clustermd.dlm.libdlm;

import io.clustermd.dlm.LockFlag;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.LockManagerListener;
import io.clustermd.dlm.Lockspace;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The {@code libdlm} backend: the kernel DLM (with corosync and dlm_controld) through libdlm's
 * {@code dlm_create_lockspace}, {@code dlm_ls_lock}, {@code dlm_ls_unlock} and {@code dlm_dispatch}.
 * The kernel enforces the DLM rules; this class only binds them.
 *
 * <p>Threads: per lockspace one dispatch thread waits on the lockspace fd ({@code dlm_ls_get_fd})
 * and calls {@code dlm_dispatch}, which runs the AST/BAST callbacks on it; the callbacks only read
 * the lksb and hand an event to the manager's event thread. No libdlm thread ever calls into Java.
 *
 * <p>Limits of libdlm: blocking callbacks do not carry the blocked mode ({@code null}); node
 * departures are not reported (userspace gets no recover callbacks: detect a dead node by a queued
 * request on its lock, as md-cluster does); a node loses its locks only after dlm_controld fenced
 * it, so {@code selfFenced} is never called here.
 */
public final class LibDlmLockManager implements LockManager {
    private static final Logger LOG = LoggerFactory.getLogger(LibDlmLockManager.class);
    private static final Set<LockFlag> SUPPORTED = EnumSet.allOf(LockFlag.class);

    final LibDlmNative dlm;
    final LibDlmNative.Libc libc;
    final Runtime runtime;
    private final String nodeId;
    final ExecutorService events;
    final ScheduledExecutorService scheduler;
    private final Map<String, LibDlmLockspace> lockspaces = new ConcurrentHashMap<>();
    final List<LockManagerListener> listeners = new CopyOnWriteArrayList<>();
    final AtomicLong lockIds = new AtomicLong();
    private volatile boolean closed;

    private LibDlmLockManager(String nodeName) {
        this.dlm = LibDlmNative.load();
        this.libc = LibDlmNative.loadLibc();
        this.runtime = Runtime.getRuntime(dlm);
        this.nodeId = nodeName;
        this.events = Executors.newSingleThreadExecutor(daemon("dlm-libdlm-events"));
        this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("dlm-libdlm-timer"));
    }

    /**
     * Binds libdlm. The node id is the DLM node id from configfs when there is one.
     *
     * @throws IllegalStateException if libdlm.so.3 is missing or the kernel DLM is not running
     */
    public static LibDlmLockManager open(String nodeName) {
        LibDlmLockManager m;
        try {
            m = new LibDlmLockManager(nodeName == null ? localNodeId() : nodeName);
        } catch (UnsatisfiedLinkError | RuntimeException e) {
            throw new IllegalStateException("cannot load libdlm.so.3 (" + e.getMessage() + "); install Debian's libdlm3 "
                    + "package, or use --lock zk://HOST:PORT/chroot", e);
        }
        IntByReference a = new IntByReference();
        IntByReference b = new IntByReference();
        IntByReference c = new IntByReference();
        if (m.dlm.dlm_kernel_version(a, b, c) != 0) {
            m.close();
            throw new IllegalStateException("the kernel DLM is not available (no /dev/misc/dlm-control): load the dlm "
                    + "module and start corosync and dlm_controld (e.g. Pacemaker's ocf:pacemaker:controld)");
        }
        LOG.info("libdlm bound; kernel DLM device version {}.{}.{}, node {}", a.getValue(), b.getValue(), c.getValue(),
                m.nodeId);
        return m;
    }

    /** The local DLM node id from configfs ({@code comms/<id>/local} = 1), else the host name. */
    static String localNodeId() {
        Path comms = Path.of("/sys/kernel/config/dlm/cluster/comms");
        try (Stream<Path> dirs = Files.list(comms)) {
            for (Path d : dirs.toList()) {
                Path local = d.resolve("local");
                if (Files.exists(local) && Files.readString(local).trim().equals("1")) {
                    return "dlm-node-" + d.getFileName();
                }
            }
        } catch (IOException e) {
            // no configfs: fall through
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "node";
        }
    }

    @Override
    public String backend() {
        return "libdlm";
    }

    @Override
    public String nodeId() {
        return nodeId;
    }

    @Override
    public Set<LockFlag> supportedFlags() {
        return SUPPORTED;
    }

    @Override
    public boolean reportsBlockingMode() {
        return false;
    }

    @Override
    public Lockspace openLockspace(String name, Duration defaultTimeout) {
        if (closed) {
            throw new IllegalStateException("the libdlm lock manager is closed");
        }
        LibDlmLockspace ls = new LibDlmLockspace(this, name, defaultTimeout);
        if (lockspaces.putIfAbsent(name, ls) != null) {
            throw new IllegalStateException("lockspace '" + name + "' is already open in this lock manager; use the open "
                    + "Lockspace or close it first");
        }
        try {
            ls.start();
        } catch (RuntimeException e) {
            lockspaces.remove(name, ls);
            throw e;
        }
        return ls;
    }

    void lockspaceClosed(LibDlmLockspace ls) {
        lockspaces.remove(ls.name(), ls);
    }

    @Override
    public void addListener(LockManagerListener listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        for (LibDlmLockspace ls : lockspaces.values()) {
            ls.close();
        }
        closed = true;
        events.shutdown();
        scheduler.shutdownNow();
    }

    /** errno of the last libdlm call on this thread, with its text. */
    String lastError() {
        int errno = LastError.getLastError(runtime);
        return libc.strerror(errno) + " (errno " + errno + ")";
    }

    int lastErrno() {
        return LastError.getLastError(runtime);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
