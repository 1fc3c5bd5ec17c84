package io.clustermd.md.cluster;

import java.nio.ByteBuffer;
import java.util.UUID;

/**
 * The names of a clustered array's lock resources (ARCHITECTURE §5; md-cluster.c's
 * {@code lockres_init} names), in a lockspace of its own.
 */
public final class ClusterLocks {

    /** Held EX by the one node that sends a message or writes superblocks (md's {@code token}). */
    public static final String TOKEN = "token";
    /** Carries the message in its LVB (md's {@code message}). */
    public static final String MESSAGE = "message";
    /** Held CR by every node; a sender's EX on it waits until every receiver processed (md's {@code ack}). */
    public static final String ACK = "ack";
    /** Held CR by every node; EX only when every node confirmed a new member (md's {@code no-new-dev}). */
    public static final String NO_NEW_DEV = "no-new-dev";
    /** Held EX by the one node that resyncs or recovers (md's {@code resync}). */
    public static final String RESYNC = "resync";

    private ClusterLocks() {
    }

    /**
     * Not in md (the kernel has one md per host): held EX by the daemon running as node
     * {@code nodeName}, so a second daemon of the array under the same name is refused.
     * {@code node-} and the name when it is short and plain, else {@code node-} and a hash of it.
     */
    public static String node(String nodeName) {
        if (nodeName == null || nodeName.isEmpty()) {
            throw new IllegalArgumentException("a node name is not empty");
        }
        if (nodeName.matches("[A-Za-z0-9._-]{1,48}")) {
            return "node-" + nodeName;
        }
        try {
            byte[] h = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(nodeName.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return "node-h" + java.util.HexFormat.of().formatHex(h, 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /**
     * The lockspace of the array with this {@code set_uuid}: {@code cmd-} and the UUID in its usual
     * text form. Never md-cluster's name (the bare UUID), so a kernel node can never join by accident.
     */
    public static String lockspaceName(byte[] setUuid) {
        if (setUuid == null || setUuid.length != 16) {
            throw new IllegalArgumentException("an array UUID is 16 bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(setUuid);
        return "cmd-" + new UUID(b.getLong(), b.getLong());
    }

    /**
     * Not in md (whose refusing node leaves only {@code no-new-dev} CR behind, so the initiator
     * learns that someone refused, not who): held by the node in {@code slot} from its refusal of a
     * NEWDISK until the next METADATA_UPDATED, PR with its node name in the LVB, so the initiator
     * can name the nodes that cannot see the new member.
     */
    public static String newDiskRefusal(int slot) {
        if (slot < 0 || slot > 9999) {
            throw new IllegalArgumentException("slot must be 0..9999, got " + slot);
        }
        return String.format("nack%04d", slot);
    }

    /** The lock of bitmap slot {@code slot} (0-based): {@code bitmap0000} .. md's {@code bitmap%04d}. */
    public static String bitmap(int slot) {
        if (slot < 0 || slot > 9999) {
            throw new IllegalArgumentException("bitmap slot must be 0..9999, got " + slot);
        }
        return String.format("bitmap%04d", slot);
    }
}
