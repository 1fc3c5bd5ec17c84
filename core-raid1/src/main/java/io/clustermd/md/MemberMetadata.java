package io.clustermd.md;

import java.util.List;

/**
 * What a member carries: its v1.2 superblock and, when it has an internal bitmap, every bitmap slot.
 *
 * @param device      the path as given
 * @param deviceBytes size of the file or block device
 * @param superblock  the decoded superblock
 * @param rawSuperblock the superblock bytes as read (up to 4 KiB)
 * @param problem     the first reason md would refuse this superblock, or null when valid
 * @param slots       bitmap slots (empty without an internal bitmap)
 * @param bitmapProblem why the bitmap could not be read, or null
 */
public record MemberMetadata(String device, long deviceBytes, MdSuperblock superblock, byte[] rawSuperblock,
                             MdFormatException problem, List<BitmapSlot> slots, String bitmapProblem) {

    public boolean valid() {
        return problem == null && bitmapProblem == null && slots.stream().allMatch(s -> s.problem() == null);
    }

    /** First problem found, as one line, or null. */
    public String firstProblem() {
        if (problem != null) {
            return problem.getMessage();
        }
        if (bitmapProblem != null) {
            return bitmapProblem;
        }
        return slots.stream().map(BitmapSlot::problem).filter(p -> p != null).findFirst().orElse(null);
    }

    /** Slot 0's bitmap superblock, or null when there is no bitmap. */
    public io.clustermd.bitmap.BitmapSuperblock bitmap() {
        return slots.isEmpty() ? null : slots.get(0).superblock();
    }
}
