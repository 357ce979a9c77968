package org.xenfork.abi;

import java.math.BigInteger;

/** Parsing and printing of field values and byte strings, the one format used everywhere. */
public final class Values {
    private Values() {
    }

    /**
     * A value as a user writes it: decimal ({@code 42}, {@code -1}) or {@code 0x}-hex
     * ({@code 0x7fe1}).
     */
    public static BigInteger parse(String what, String text) {
        String t = text.strip();
        boolean negative = t.startsWith("-");
        String digits = negative ? t.substring(1) : t;
        boolean hex = digits.startsWith("0x") || digits.startsWith("0X");
        if (hex) {
            digits = digits.substring(2);
        }
        int radix = hex ? 16 : 10;
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c < 128 && Character.digit(c, radix) >= 0)) {
            throw new AbiException("malformed value '" + text + "' for " + what
                    + ": write a decimal number (42) or 0x-hex (0x2a)");
        }
        BigInteger v = new BigInteger(digits, radix);
        return negative ? v.negate() : v;
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
