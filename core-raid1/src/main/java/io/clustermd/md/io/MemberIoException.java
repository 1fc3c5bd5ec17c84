package io.clustermd.md.io;

import java.io.IOException;
import java.util.Objects;

/**
 * A failed member operation: what md sees as a bio completing with an error status
 * ({@code bi_status != BLK_STS_OK}) and hands to the personality's error handler
 * ({@code raid1_end_write_request} → {@code md_error}).
 *
 * <p>Carries the device, the operation and its byte range, so one line tells an operator which disk failed
 * doing what: {@code "/srv/a.img: write of 4096 bytes at 1048576 failed: Input/output error"}. The
 * {@linkplain #reason() reason} separates a failing disk from a request the caller should never have made.
 */
public final class MemberIoException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why the operation failed; the RAID engine fails a member for {@link #IO_ERROR} and {@link #NO_SPACE}. */
    public enum Reason {
        /** The device reported an error (EIO and any other errno from the kernel): md_error material. */
        IO_ERROR,
        /** ENOSPC: a sparse file member could not allocate (the file system is full). */
        NO_SPACE,
        /** A write to a device that is read-only (opened read-only, EROFS or EPERM from a read-only device). */
        READ_ONLY,
        /** The range lies (partly) outside the device, or a read came back short because the device shrank. */
        OUT_OF_RANGE,
        /** The device was closed before the operation was accepted. */
        CLOSED,
        /** The request itself is malformed (negative offset or length). */
        INVALID
    }

    private final String device;
    private final MemberOp operation;
    private final long offset;
    private final long length;
    private final Reason reason;

    /** Builds the exception and its message from the parts; {@code detail} ends the message. */
    public MemberIoException(String device, MemberOp operation, long offset, long length, Reason reason,
                             String detail, Throwable cause) {
        super(format(device, operation, offset, length, detail), cause);
        this.device = Objects.requireNonNull(device, "device");
        this.operation = Objects.requireNonNull(operation, "operation");
        this.offset = offset;
        this.length = length;
        this.reason = Objects.requireNonNull(reason, "reason");
    }

    /** The device's name, the path it was opened by. */
    public String device() {
        return device;
    }

    public MemberOp operation() {
        return operation;
    }

    /** Byte offset of the request (0 for a flush). */
    public long offset() {
        return offset;
    }

    /** Length of the request in bytes (0 for a flush). */
    public long length() {
        return length;
    }

    public Reason reason() {
        return reason;
    }

    static String format(String device, MemberOp op, long offset, long length, String detail) {
        if (op == MemberOp.FLUSH) {
            return device + ": flush failed: " + detail;
        }
        return device + ": " + op.label() + " of " + length + " bytes at " + offset + " failed: " + detail;
    }

    /**
     * Maps a JDK I/O failure to a reason. The JDK reports errno only as strerror text, so this matches glibc's
     * messages for the errnos that mean something other than a failing disk.
     */
    static Reason classify(Throwable cause) {
        String m = String.valueOf(cause.getMessage());
        if (m.contains("No space left on device") || m.contains("Disk quota exceeded")) {
            return Reason.NO_SPACE;
        }
        if (m.contains("Read-only file system") || m.contains("Operation not permitted")) {
            return Reason.READ_ONLY;
        }
        return Reason.IO_ERROR;
    }
}
