package io.clustermd.dlm.libdlm;

import io.clustermd.dlm.BlockingCallback;
import io.clustermd.dlm.LockHandle;
import io.clustermd.dlm.LockManager;
import io.clustermd.dlm.spi.AbstractLockspace;
import io.clustermd.dlm.spi.Names;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;

/**
 * A kernel DLM lockspace opened through libdlm ({@code dlm_create_lockspace}, or
 * {@code dlm_open_lockspace} when it exists), with its dispatch thread.
 */
final class LibDlmLockspace extends AbstractLockspace {
    private static final Logger LOG = LoggerFactory.getLogger(LibDlmLockspace.class);
    private static final int EEXIST = 17;

    final LibDlmLockManager manager;
    Pointer ls;
    private int fd;
    private Thread dispatcher;
    private volatile boolean stopping;
    final Map<Long, LibDlmLockHandle> handles = new ConcurrentHashMap<>();
    /** The two callbacks every lock of this lockspace uses; kept here so the GC never frees them. */
    final LibDlmNative.Ast ast = this::onAst;
    final LibDlmNative.Ast bast = this::onBast;

    LibDlmLockspace(LibDlmLockManager manager, String name, Duration defaultTimeout) {
        super(name, defaultTimeout);
        this.manager = manager;
    }

    @Override
    public LockManager manager() {
        return manager;
    }

    @Override
    public ScheduledExecutorService scheduler() {
        return manager.scheduler;
    }

    /** 1. create (or join) the lockspace; 2. get its fd; 3. start the dispatch thread. */
    void start() {
        ls = manager.dlm.dlm_create_lockspace(name(), 0600);
        if (ls == null && manager.lastErrno() == EEXIST) {
            ls = manager.dlm.dlm_open_lockspace(name());
        }
        if (ls == null) {
            throw new IllegalStateException("cannot create or open DLM lockspace '" + name() + "': " + manager.lastError()
                    + "; is dlm_controld running, and may this user open /dev/misc/dlm-control (CAP_SYS_ADMIN)?");
        }
        fd = manager.dlm.dlm_ls_get_fd(ls);
        if (fd < 0) {
            throw new IllegalStateException("DLM lockspace '" + name() + "' has no fd: " + manager.lastError());
        }
        dispatcher = new Thread(this::dispatchLoop, "dlm-libdlm-dispatch-" + name());
        dispatcher.setDaemon(true);
        dispatcher.start();
    }

    /** Waits on the lockspace fd and lets libdlm deliver the results (ASTs run on this thread). */
    private void dispatchLoop() {
        jnr.ffi.Runtime rt = manager.runtime;
        Pointer pollfd = Memory.allocateDirect(rt, 8);
        while (!stopping) {
            pollfd.putInt(0, fd);
            pollfd.putShort(4, (short) 0x1); // POLLIN
            pollfd.putShort(6, (short) 0);
            int n = manager.libc.poll(pollfd, 1, 200);
            if (n > 0 && !stopping) {
                manager.dlm.dlm_dispatch(fd);
            } else if (n < 0 && manager.lastErrno() != 4) { // EINTR
                LOG.error("poll on DLM lockspace '{}' failed: {}", name(), manager.lastError());
                return;
            }
        }
    }

    private void onAst(Pointer astarg) {
        LibDlmLockHandle h = handles.get(astarg.address());
        if (h != null) {
            h.onCompletion();
        }
    }

    private void onBast(Pointer astarg) {
        LibDlmLockHandle h = handles.get(astarg.address());
        if (h != null) {
            manager.events.execute(() -> h.deliverBlocking(null));
        }
    }

    @Override
    public LockHandle newLock(String resource, BlockingCallback blocking) {
        Names.resource(resource);
        checkUsable();
        LibDlmLockHandle h = new LibDlmLockHandle(this, resource, manager.lockIds.incrementAndGet(), blocking);
        handles.put(h.lockId(), h);
        return h;
    }

    /**
     * Leaves the lockspace ({@code dlm_release_lockspace} with force 1): the kernel drops this
     * process's locks in it (PERSISTENT ones become orphans).
     */
    @Override
    public void close() {
        if (isDead()) {
            return;
        }
        markDead("closed", false);
        stopping = true;
        try {
            dispatcher.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (manager.dlm.dlm_release_lockspace(name(), ls, 1) != 0) {
            LOG.warn("releasing DLM lockspace '{}': {}", name(), manager.lastError());
        }
        IllegalStateException cause = new IllegalStateException("lockspace '" + name() + "' was closed");
        manager.events.execute(() -> handles.values().forEach(h -> h.lost(cause)));
        manager.lockspaceClosed(this);
    }
}
