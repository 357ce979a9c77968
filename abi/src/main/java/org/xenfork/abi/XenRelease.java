package org.xenfork.abi;

import java.util.List;
import java.util.stream.Collectors;

/**
 * A Xen release, major.minor. Its ABI ({@link Abi#forRelease}) is declared in
 * {@code releases/xen-X.Y.abi}; {@link #SUPPORTED} lists those files.
 */
public record XenRelease(int major, int minor) implements Comparable<XenRelease> {

    /** Every release with a declaration file, oldest first. */
    public static final List<XenRelease> SUPPORTED = List.of(
            new XenRelease(4, 14), new XenRelease(4, 15), new XenRelease(4, 16),
            new XenRelease(4, 17), new XenRelease(4, 18), new XenRelease(4, 19),
            new XenRelease(4, 20), new XenRelease(4, 21), new XenRelease(4, 22));

    /** Parses {@code 4.17} and returns it if supported; otherwise names the supported ones. */
    public static XenRelease parse(String text) {
        String t = text == null ? "" : text.strip();
        String[] parts = t.split("\\.");
        if (parts.length == 2 && parts[0].matches("\\d{1,3}") && parts[1].matches("\\d{1,3}")) {
            XenRelease r = new XenRelease(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]));
            if (SUPPORTED.contains(r)) {
                return r;
            }
        }
        throw new AbiException("unsupported Xen release " + Values.quoted(String.valueOf(text)) + ": supported are "
                + supportedList());
    }

    /** From {@code XENVER_version}'s result, {@code (major << 16) | minor}. */
    public static XenRelease fromVersionWord(long word) {
        return new XenRelease((int) (word >>> 16) & 0xffff, (int) word & 0xffff);
    }

    public static String supportedList() {
        return SUPPORTED.stream().map(XenRelease::toString).collect(Collectors.joining(", "));
    }

    public boolean atLeast(int maj, int min) {
        return major != maj ? major > maj : minor >= min; // no XenRelease made: hot paths ask this per call
    }

    @Override
    public int compareTo(XenRelease o) {
        return major != o.major ? Integer.compare(major, o.major) : Integer.compare(minor, o.minor);
    }

    @Override
    public String toString() {
        return major + "." + minor;
    }
}
