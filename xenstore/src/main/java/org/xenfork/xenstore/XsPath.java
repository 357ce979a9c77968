package org.xenfork.xenstore;

/**
 * Client-side path checks, done before anything is sent so that a bad path from a
 * caller (the tool runs as root, paths may come from guest-controlled data) is
 * refused with a precise reason instead of reaching xenstored.
 *
 * <p>The rules are xenstored's ({@code is_valid_nodename} in Xen 4.17's
 * {@code xenstored_core.c}, and docs/misc/xenstore.txt): characters
 * {@code A-Z a-z 0-9 - / _ @} only; no {@code //}; no trailing {@code /} except
 * the root itself. Lengths come from xs_wire.h: {@code XENSTORE_ABS_PATH_MAX} for
 * absolute paths, {@code XENSTORE_REL_PATH_MAX} for relative ones (which xenstored
 * resolves against the connection's {@code /local/domain/<domid>}).
 *
 * <p>Names starting with {@code @} ({@code @introduceDomain}, {@code @releaseDomain})
 * are special watch paths, accepted only by {@link #requireWatchPath}; for node
 * operations a leading {@code @} is refused rather than silently treated as a
 * relative path.
 */
public final class XsPath {

    private XsPath() {
    }

    /** {@code path} if it names a node; otherwise {@link IllegalArgumentException} saying which rule it breaks. */
    public static String requireNodePath(String path) {
        String problem = problem(path, false);
        if (problem != null) {
            throw new IllegalArgumentException("invalid xenstore path " + quote(path) + ": " + problem);
        }
        return path;
    }

    /** Like {@link #requireNodePath}, also accepting the special {@code @name} watch paths. */
    public static String requireWatchPath(String path) {
        String problem = problem(path, true);
        if (problem != null) {
            throw new IllegalArgumentException("invalid xenstore watch path " + quote(path) + ": " + problem);
        }
        return path;
    }

    public static boolean isValidNodePath(String path) {
        return problem(path, false) == null;
    }

    /** Null if valid, else the rule broken. */
    private static String problem(String path, boolean allowSpecial) {
        if (path == null) {
            return "null";
        }
        if (path.isEmpty()) {
            return "empty";
        }
        boolean absolute = path.charAt(0) == '/';
        boolean special = path.charAt(0) == '@';
        if (special && !allowSpecial) {
            return "names starting with '@' are special watch paths, not nodes";
        }
        int max = absolute || special ? XsWire.ABS_PATH_MAX : XsWire.REL_PATH_MAX;
        if (path.length() > max) {
            return path.length() + " characters, more than " + (absolute || special ? "XENSTORE_ABS_PATH_MAX" : "XENSTORE_REL_PATH_MAX")
                    + " (" + max + ")";
        }
        for (int i = 0; i < path.length(); i++) {
            char c = path.charAt(i);
            if (!allowedChar(c)) {
                return String.format("character U+%04X at index %d is not one of A-Z a-z 0-9 - / _ @", (int) c, i);
            }
        }
        if (path.contains("//")) {
            return "contains '//'";
        }
        if (path.length() > 1 && path.endsWith("/")) {
            return "ends with '/'";
        }
        if (special && path.length() == 1) {
            return "'@' alone names nothing";
        }
        return null;
    }

    private static boolean allowedChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '/' || c == '_' || c == '@';
    }

    /** Quotes a path for a message, cut short so a 3 KB path does not flood logs. */
    private static String quote(String path) {
        if (path == null) {
            return "null";
        }
        String shown = path.length() > 64 ? path.substring(0, 64) + "..." : path;
        StringBuilder sb = new StringBuilder("\"");
        for (char c : shown.toCharArray()) {
            sb.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return sb.append('"').toString();
    }
}
