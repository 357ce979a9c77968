package org.xenfork.qmp;

import java.time.Duration;

/** Wording shared by the messages of this module. */
final class Texts {
    /** The peer as code that parses QEMU's bytes knows it; the session names the socket. */
    static final String QEMU = "QEMU";

    private Texts() {
    }

    /** {@code d} in nanoseconds, saturated at about 73 years so that sums and deadlines cannot overflow. */
    static long nanos(Duration d) {
        return d.compareTo(Duration.ofDays(365L * 73)) > 0 ? Duration.ofDays(365L * 73).toNanos() : d.toNanos();
    }

    /** {@code 5 s}, {@code 250 ms}, {@code 1.5 s}, {@code 0.2 ms}. */
    static String duration(Duration d) {
        long nanos = nanos(d);
        if (nanos % 1_000_000_000L == 0) {
            return nanos / 1_000_000_000L + " s";
        }
        if (nanos >= 1_000_000_000L) {
            return trim(nanos / 1e9) + " s";
        }
        return trim(nanos / 1e6) + " ms";
    }

    /** {@code 1 MiB (1048576 bytes)}, {@code 4 KiB (4096 bytes)}, {@code 300 bytes}. */
    static String bytes(long n) {
        if (n >= 1 << 20 && n % (1 << 20) == 0) {
            return (n >> 20) + " MiB (" + n + " bytes)";
        }
        if (n >= 1 << 10 && n % (1 << 10) == 0) {
            return (n >> 10) + " KiB (" + n + " bytes)";
        }
        return n + " bytes";
    }

    private static String trim(double v) {
        String s = String.format(java.util.Locale.ROOT, "%.3f", v);
        s = s.replaceAll("0+$", "");
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }

    /**
     * The first {@code max} characters of {@code text} with control and non-ASCII characters escaped ({@code \x1b},
     * {@code \u20ac}): what a peer sent may go into a message only this way, so that it can neither run on without
     * end nor drive the terminal the message is printed on.
     */
    static String excerpt(CharSequence text, int max) {
        StringBuilder sb = new StringBuilder();
        int n = Math.min(text.length(), max);
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7f) {
                sb.append(c);
            } else if (c <= 0xff) {
                sb.append(String.format(java.util.Locale.ROOT, "\\x%02x", (int) c));
            } else {
                sb.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
            }
        }
        if (text.length() > max) {
            sb.append("… (").append(text.length()).append(" characters)");
        }
        return sb.toString();
    }

    /** {@code node} as compact JSON for a message: an {@link #excerpt} of 200 characters. */
    static String json(com.fasterxml.jackson.databind.JsonNode node) {
        return excerpt(QmpJson.text(node), 200);
    }
}
