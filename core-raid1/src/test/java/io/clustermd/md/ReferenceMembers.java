package io.clustermd.md;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Members made by the real Linux md and mdadm 4.2 (see resources/reference/README.md), with the
 * mdadm output captured for each. Shared with other modules through the test-jar.
 */
public final class ReferenceMembers {

    /** The raid10 arrays (see the README): shape name -> member count. */
    public static final java.util.Map<String, Integer> RAID10 = java.util.Map.of("r10-n2x3", 3, "r10-n2x4", 4,
            "r10-n3x3", 3, "r10-f2x2", 2, "r10-f2x3", 3, "r10-f2x4", 4, "r10-f3x3", 3, "r10-o2x3", 3, "r10-o2x4", 4,
            "r10-n2x2-clustered", 2);

    /** Every reference member: m1 (internal bitmap), m2 (clustered, 4 slots), the raid10 ones (r10-SHAPE-I). */
    public static final List<String> ALL = allMembers();

    private static List<String> allMembers() {
        List<String> all = new java.util.ArrayList<>(List.of("m1-a", "m1-b", "m2-a", "m2-b"));
        new java.util.TreeMap<>(RAID10).forEach((shape, n) -> {
            for (int i = 0; i < n; i++) {
                all.add(shape + "-" + i);
            }
        });
        return List.copyOf(all);
    }

    private ReferenceMembers() {
    }

    /** Unpacks member {@code name} (e.g. "m2-a") into {@code dir}; returns the image path. */
    public static Path unpack(String name, Path dir) {
        Path target = dir.resolve(name + ".img");
        try (InputStream in = new GZIPInputStream(resource(name + ".img.gz"))) {
            Files.copy(in, target);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Raw bytes of an unpacked member. */
    public static byte[] bytes(String name) {
        try (InputStream in = new GZIPInputStream(resource(name + ".img.gz"))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Captured mdadm output {@code kind} for a member, e.g. ("m2-a", "node-examine"), without the
     * "# host$ command" header and the "# exit code" trailer.
     */
    public static List<String> capture(String name, String kind) {
        try (InputStream in = resource(name + "." + kind + ".txt")) {
            List<String> lines = Arrays.asList(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n", -1));
            int from = lines.get(0).startsWith("# ") ? 1 : 0;
            int to = lines.size();
            while (to > from && (lines.get(to - 1).isEmpty() || lines.get(to - 1).startsWith("# exit code"))) {
                to--;
            }
            return List.copyOf(lines.subList(from, to));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static InputStream resource(String file) {
        InputStream in = ReferenceMembers.class.getResourceAsStream("/reference/" + file);
        if (in == null) {
            throw new IllegalStateException("missing test resource /reference/" + file);
        }
        return in;
    }
}
