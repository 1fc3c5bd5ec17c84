package io.clustermd.md;

import java.util.List;

/**
 * The outcome of a create: the array identity and geometry, plus warnings mdadm would print.
 *
 * @param uuid            array uuid as mdadm prints it
 * @param name            set_name
 * @param componentSectors used size per member
 * @param arraySectors     size of the array
 * @param dataOffsetSectors data offset on every member
 * @param bitmapChunkBytes bitmap chunk (0 without bitmap)
 * @param warnings        non-fatal notes (e.g. a member much larger than the array uses)
 */
public record CreatedArray(String uuid, String name, long componentSectors, long arraySectors,
                           long dataOffsetSectors, long bitmapChunkBytes, List<String> warnings) {
}
