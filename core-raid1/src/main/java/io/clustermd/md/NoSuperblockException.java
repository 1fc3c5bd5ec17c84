package io.clustermd.md;

/** The device carries no md v1.2 superblock (wrong magic, or too small to hold one). */
public final class NoSuperblockException extends MdFormatException {
    private static final long serialVersionUID = 1L;

    public NoSuperblockException(String message) {
        super(message);
    }
}
