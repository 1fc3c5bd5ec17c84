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

    /** Files up to this size are hashed whole. */
    static final long WHOLE_FILE_LIMIT = 1L << 30;
    /** Of larger (sparse) files, this much at each end: every md metadata location and more. */
    static final long EDGE_BYTES = 256L << 20;

    /**
     * SHA-256 of a file's content plus its length. Files over 1 GiB (the sparse giants of the
     * interop tests) are hashed over their first and last 256 MiB, which hold every place md
     * metadata can live (superblocks 1.0/1.1/1.2, bitmaps, the data offset region).
     */
    public static String fingerprint(Path p) {
        try (var ch = java.nio.channels.FileChannel.open(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            long size = ch.size();
            if (size <= WHOLE_FILE_LIMIT) {
                digest(ch, md, 0, size);
            } else {
                digest(ch, md, 0, EDGE_BYTES);
                digest(ch, md, size - EDGE_BYTES, EDGE_BYTES);
            }
            return size + ":" + HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void digest(java.nio.channels.FileChannel ch, MessageDigest md, long from, long length)
            throws IOException {
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 20);
        long pos = from;
        long end = from + length;
        while (pos < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
            int n = ch.read(buf, pos);
            if (n <= 0) {
                break;
            }
            md.update(buf.array(), 0, n);
            pos += n;
        }
    }

    public static List<String> fingerprints(List<Path> paths) {
        return paths.stream().map(p -> Files.exists(p) ? fingerprint(p) : "absent").toList();
    }
}
