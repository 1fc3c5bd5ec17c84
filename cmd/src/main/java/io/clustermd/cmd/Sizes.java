package io.clustermd.cmd;

import java.util.Locale;

/** mdadm's size arguments ({@code parse_size}): a number in KiB, or with a suffix s, K, M, G, T. */
public final class Sizes {

    private Sizes() {
    }

    /** Parses to bytes; throws IllegalArgumentException with the option name on bad input. */
    public static long parseBytes(String option, String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        if (t.isEmpty()) {
            throw new IllegalArgumentException(option + ": empty size");
        }
        char last = t.charAt(t.length() - 1);
        long multiplier = 1024;
        String digits = t;
        if (Character.isLetter(last)) {
            digits = t.substring(0, t.length() - 1);
            multiplier = switch (last) {
                case 'S' -> 512L;
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                case 'G' -> 1L << 30;
                case 'T' -> 1L << 40;
                default -> throw new IllegalArgumentException(
                        option + ": unknown size suffix in '" + text + "' (use s, K, M, G or T)");
            };
        }
        try {
            long n = Long.parseLong(digits);
            if (n < 0) {
                throw new IllegalArgumentException(option + ": size must not be negative: '" + text + "'");
            }
            return Math.multiplyExact(n, multiplier);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException(option + ": '" + text + "' is not a size (e.g. 512K, 64M, 1G)");
        }
    }
}
