package org.xenfork.abi;

import java.math.BigInteger;

/** Parsing and printing of field values and byte strings, the one format used everywhere. */
public final class Values {
    private Values() {
    }

    /** The widest field any struct has: a leaf is read and written as at most 8 bytes ({@link Leaf}). */
    public static final int MAX_BITS = 64;

    /** {@link #parse(String, String, int)} for a field of up to {@value #MAX_BITS} bits. */
    public static BigInteger parse(String what, String text) {
        return parse(what, text, MAX_BITS);
    }

    /**
     * A value as a user writes it: decimal ({@code 42}, {@code -1}) or {@code 0x}-hex
     * ({@code 0x7fe1}), for a field of {@code bits} bits. More significant digits than
     * such a field can hold (and one more, so that a value just too large is refused by the
     * field with its range) are refused before they are converted: turning a long digit
     * string into a number costs time quadratic in its length. A refusal quotes the text
     * cut short ({@link #quoted}).
     */
    public static BigInteger parse(String what, String text, int bits) {
        String t = text.strip();
        boolean negative = t.startsWith("-");
        String digits = negative ? t.substring(1) : t;
        boolean hex = digits.startsWith("0x") || digits.startsWith("0X");
        if (hex) {
            digits = digits.substring(2);
        }
        int radix = hex ? 16 : 10;
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c < 128 && Character.digit(c, radix) >= 0)) {
            throw new AbiException("malformed value " + quoted(text) + " for " + what
                    + ": write a decimal number (42) or 0x-hex (0x2a)");
        }
        int first = 0;
        while (first < digits.length() - 1 && digits.charAt(first) == '0') {
            first++;
        }
        int most = BigInteger.ONE.shiftLeft(bits).subtract(BigInteger.ONE).toString(radix).length();
        if (digits.length() - first > most + 1) { // one more still parses, so the field can name its range
            throw new AbiException("value for " + what + " has " + (digits.length() - first) + " significant "
                    + (hex ? "hex" : "decimal") + " digits; a " + bits + "-bit field holds at most " + most);
        }
        BigInteger v = new BigInteger(digits.substring(first), radix);
        return negative ? v.negate() : v;
    }

    /** The longest text {@link #quoted} shows whole. */
    public static final int QUOTED_CHARS = 100;

    /**
     * Text from outside (a name, a value, a config line) as an error message quotes it: in double
     * quotes, with quote and backslash escaped, control and non-ASCII characters as
     * {@code \\uXXXX}, and cut after {@value #QUOTED_CHARS} characters with its length said, so
     * that no input is echoed back whole or prints as something else.
     */
    public static String quoted(String text) {
        int n = Math.min(text.length(), QUOTED_CHARS);
        StringBuilder b = new StringBuilder(n + 32).append('"');
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c >= 0x20 && c < 0x7f) {
                b.append(c);
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
        b.append('"');
        if (text.length() > n) {
            b.append("... (").append(text.length()).append(" characters)");
        }
        return b.toString();
    }

    /** Lowercase 0x-hex of a field's stored bits, e.g. {@code 0x7fe1}. */
    public static String hex(long bits) {
        return "0x" + Long.toHexString(bits);
    }

    static String format(BigInteger value) {
        return value.signum() < 0 ? value.toString() : "0x" + value.toString(16);
    }

    /** Lowercase hex of a byte string, two digits a byte, no prefix. */
    public static String toHex(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
    }

    /** Parses a hex byte string (an optional {@code 0x} prefix and white space are allowed). */
    public static byte[] fromHex(String text) {
        String t = text.replaceAll("\\s+", "");
        if (t.startsWith("0x") || t.startsWith("0X")) {
            t = t.substring(2);
        }
        if (t.length() % 2 != 0) {
            throw new AbiException("hex input has an odd number of digits (" + t.length()
                    + "): give two hex digits per byte");
        }
        byte[] out = new byte[t.length() / 2];
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            int d = c < 128 ? Character.digit(c, 16) : -1;
            if (d < 0) {
                throw new AbiException("hex input has '" + t.charAt(i) + "' at position " + i
                        + ": only 0-9 and a-f are allowed");
            }
            out[i / 2] |= (byte) (i % 2 == 0 ? d << 4 : d);
        }
        return out;
    }
}
