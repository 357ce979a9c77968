package org.xenfork.xenstore;

import java.util.Objects;

/**
 * One entry of a node's permission list, written on the wire as a letter and a
 * domain id: {@code "n0"}, {@code "r5"}, {@code "w2"}, {@code "b7"}.
 *
 * <p>In a list the first entry is special (docs/misc/xenstore.txt): its domain
 * owns the node (and may do anything to it) and its access applies to every
 * domain not listed after it. {@code [n0, r5]}: dom0 owns it, domain 5 may read
 * it, nobody else may do anything.
 */
public record XsPermission(Access access, int domid) {

    /** Largest domain id: {@code domid_t} is {@code uint16_t}. */
    public static final int DOMID_MAX = 0xffff;

    /** What a domain may do to a node. */
    public enum Access {
        NONE('n'),
        READ('r'),
        WRITE('w'),
        BOTH('b');

        private final char letter;

        Access(char letter) {
            this.letter = letter;
        }

        public char letter() {
            return letter;
        }

        static Access fromLetter(char c) {
            for (Access a : values()) {
                if (a.letter == c) {
                    return a;
                }
            }
            return null;
        }
    }

    public XsPermission {
        Objects.requireNonNull(access, "access");
        if (domid < 0 || domid > DOMID_MAX) {
            throw new IllegalArgumentException("domid " + domid + " outside 0.." + DOMID_MAX);
        }
    }

    public static XsPermission none(int domid) {
        return new XsPermission(Access.NONE, domid);
    }

    public static XsPermission read(int domid) {
        return new XsPermission(Access.READ, domid);
    }

    public static XsPermission write(int domid) {
        return new XsPermission(Access.WRITE, domid);
    }

    public static XsPermission both(int domid) {
        return new XsPermission(Access.BOTH, domid);
    }

    /**
     * Parses {@code "r5"}: one of {@code n r w b}, then a decimal domid with no
     * sign, spaces or leading zeros beyond a lone {@code 0}.
     */
    public static XsPermission parse(String s) {
        if (s == null || s.length() < 2) {
            throw new IllegalArgumentException("not a xenstore permission: " + quote(s));
        }
        Access access = Access.fromLetter(s.charAt(0));
        if (access == null) {
            throw new IllegalArgumentException("not a xenstore permission (want n, r, w or b first): " + quote(s));
        }
        String digits = s.substring(1);
        if (!digits.chars().allMatch(c -> c >= '0' && c <= '9') || digits.length() > 5
                || (digits.length() > 1 && digits.charAt(0) == '0')) {
            throw new IllegalArgumentException("not a xenstore permission (bad domid): " + quote(s));
        }
        int domid = Integer.parseInt(digits);
        if (domid > DOMID_MAX) {
            throw new IllegalArgumentException("not a xenstore permission (domid above " + DOMID_MAX + "): " + quote(s));
        }
        return new XsPermission(access, domid);
    }

    /** {@code s} for a message: it may come from xenstored, so escaped and cut short (XsPayload.printable). */
    private static String quote(String s) {
        return s == null ? "null" : XsPayload.printable(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), 40);
    }

    /** The wire form, e.g. {@code "r5"}. */
    @Override
    public String toString() {
        return access.letter + Integer.toString(domid);
    }
}
