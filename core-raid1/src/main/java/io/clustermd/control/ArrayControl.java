package io.clustermd.control;

/**
 * The management surface of one running array: what md offers through sysfs
 * ({@code /sys/block/mdX/md/array_state}, {@code sync_action}, {@code dev-*}/{@code state},
 * {@code mismatch_cnt}) and the md ioctls mdadm uses ({@code GET_ARRAY_INFO}/{@code GET_DISK_INFO},
 * {@code SET_DISK_FAULTY}, {@code HOT_REMOVE_DISK}, {@code ADD_NEW_DISK}, {@code STOP_ARRAY}).
 * The daemon's array implements it; the control server calls it for each request of the control
 * socket, from several connections at once, so implementations are thread-safe.
 *
 * <p>A member is named by its path. clusterctl sends absolute paths; an implementation matches a
 * member by that path or by its real path (symbolic links resolved), so {@code /dev/disk/by-id/...}
 * and {@code /dev/sdb} name the same member.
 *
 * <p>Every refusal is a {@link ControlException} whose message is one line saying what is wrong and
 * what to do. Other runtime exceptions are reported to the client as internal errors.
 */
public interface ArrayControl {

    /**
     * A consistent snapshot of the array: what {@code /proc/mdstat} and {@code mdadm --detail} print.
     * Cheap enough to be called every second by {@code clusterctl status --watch}.
     */
    ArrayStatus status();

    /**
     * Marks an in-sync, rebuilding or spare member Faulty ({@code mdadm --fail}, md's
     * {@code SET_DISK_FAULTY} / {@code echo faulty > dev-X/state}): no more I/O goes to it, the
     * superblocks of the others record it (dev_roles 0xfffe, events + 1) before this returns.
     * Refused when it is the last in-sync member (md's raid1 {@code error} handler keeps the last
     * working device) or is already faulty.
     */
    void fail(String member) throws ControlException;

    /**
     * Takes a faulty or spare member out of the array ({@code mdadm --remove}, {@code HOT_REMOVE_DISK}):
     * the array forgets it and closes it. Refused with -EBUSY's meaning for an active member
     * ("fail it first").
     */
    void remove(String member) throws ControlException;

    /**
     * Adds a device as a spare ({@code mdadm --add}, {@code ADD_NEW_DISK}): writes a superblock for
     * this array on it and, when a slot is missing, starts recovery onto it (a full copy). Refused for
     * a device that is already a member, too small, or unreadable.
     */
    void add(String member) throws ControlException;

    /**
     * Brings a removed or faulty former member back into its old slot ({@code mdadm --re-add}): its
     * superblock names this array and its slot, and with a write-intent bitmap only chunks dirtied
     * since it left are recovered. Refused when it was never a member of this array or its events are
     * too far behind for the bitmap ("use 'clusterctl add' for a full recovery").
     */
    void reAdd(String member) throws ControlException;

    /**
     * md's {@code --grow --raid-devices=N} for raid1: the array gets N mirror roles; a spare fills a
     * new role and is rebuilt, and roles can be given up only when empty.
     */
    void growRaidDevices(int raidDevices) throws ControlException;

    /**
     * md's {@code --grow --size}: {@code bytes} of each member in use (0 = all they offer). A larger
     * size is resynced; a smaller one is refused while the part cut off holds data, unless forced.
     */
    void growSize(long bytes, boolean force) throws ControlException;

    /**
     * Starts a check ({@code echo check > sync_action}): reads every in-sync member and counts
     * differing sectors in md's {@code mismatch_cnt}; writes nothing. Refused while another sync
     * action runs.
     */
    void check() throws ControlException;

    /**
     * Starts a repair ({@code echo repair > sync_action}): as check, and rewrites differing blocks
     * from the first in-sync member. Refused while another sync action runs.
     */
    void repair() throws ControlException;

    /**
     * Stops the array ({@code mdadm --stop}, {@code STOP_ARRAY}): in-flight I/O finishes, bitmaps
     * are flushed, superblocks are updated (clean where md marks them clean). Returns once the array
     * is stopped; the daemon exits after the reply has been sent to the client. Refused (like md's
     * -EBUSY, "Cannot get exclusive access") while clients still use it, if the implementation
     * chooses to guard that.
     */
    void stop() throws ControlException;
}
