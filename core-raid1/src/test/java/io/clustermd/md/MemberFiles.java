package io.clustermd.md;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Sparse member files and their fingerprints, for tests that must prove nothing was written. */
public final class MemberFiles {

    private MemberFiles() {
    }

    /** Creates {@code count} sparse files of {@code bytes} each, filled with a recognisable pattern at the start. */
    public static List<Path> sparse(Path dir, String prefix, int count, long bytes) {
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Path p = dir.resolve(prefix + i + ".img");
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.setLength(bytes);
                byte[] pattern = new byte[Math.min(65536, (int) Math.min(bytes, Integer.MAX_VALUE))];
                for (int j = 0; j < pattern.length; j++) {
                    pattern[j] = (byte) (j * 31 + i);
                }
                f.write(pattern);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            out.add(p);
        }
        return out;
    }

    /** SHA-256 of a file's whole content plus its length. */
    public static String fingerprint(Path p) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (var in = Files.newInputStream(p)) {
                byte[] buf = new byte[1 << 20];
                int n;
                while ((n = in.read(buf)) > 0) {
                    md.update(buf, 0, n);
                }
            }
            return Files.size(p) + ":" + HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static List<String> fingerprints(List<Path> paths) {
        return paths.stream().map(p -> Files.exists(p) ? fingerprint(p) : "absent").toList();
    }
}
