package io.clustermd.md.array;

import java.util.List;
import java.util.Objects;

/**
 * A member change that the other nodes of a cluster hear of before the superblocks say it:
 * md-cluster's NEWDISK ({@code add_new_disk}), REMOVE ({@code remove_disk}) and RE_ADD
 * ({@code gather_bitmaps}), sent with the token that the superblock update then uses.
 *
 * @param kind       which message
 * @param devNumber  the member's descriptor number ({@code dev_number}, md's {@code raid_slot} field)
 * @param deviceUuid the member's {@code device_uuid} (NEWDISK: how the other nodes find the device)
 * @param slot       RE_ADD: the role the member comes back in
 */
public record MemberChange(Kind kind, int devNumber, byte[] deviceUuid, int slot) {

    /** The message kinds. */
    public enum Kind { NEW_DISK, REMOVE, RE_ADD }

    public MemberChange {
        Objects.requireNonNull(kind, "kind");
        if (kind == Kind.NEW_DISK && (deviceUuid == null || deviceUuid.length != 16)) {
            throw new IllegalArgumentException("NEWDISK carries a 16-byte device UUID");
        }
        deviceUuid = deviceUuid == null ? null : deviceUuid.clone();
    }

    public static MemberChange newDisk(int devNumber, byte[] deviceUuid) {
        return new MemberChange(Kind.NEW_DISK, devNumber, deviceUuid, -1);
    }

    public static MemberChange remove(int devNumber) {
        return new MemberChange(Kind.REMOVE, devNumber, null, -1);
    }

    public static MemberChange reAdd(int devNumber, int slot) {
        return new MemberChange(Kind.RE_ADD, devNumber, null, slot);
    }

    @Override
    public byte[] deviceUuid() {
        return deviceUuid == null ? null : deviceUuid.clone();
    }

    /**
     * Some node of the cluster cannot see a new member (md's {@code -ENOENT} from
     * {@code add_new_disk} when {@code no-new-dev} EX is refused): nothing was changed.
     */
    public static final class RefusedException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final List<String> nodes;

        public RefusedException(List<String> nodes) {
            super("not confirmed by " + String.join(", ", nodes));
            this.nodes = List.copyOf(nodes);
        }

        /** The nodes that did not confirm, as "node NAME (slot S)". */
        public List<String> nodes() {
            return nodes;
        }
    }
}
