package org.xenfork.privcmd;

/** Domain ids from outside (command lines, files): validated before any hypercall sees them. */
public final class Domid {
    /** DOMID_FIRST_RESERVED: ids from here on (DOMID_SELF, DOMID_IO, …) name no real domain. */
    public static final int FIRST_RESERVED = 0x7ff0;

    private Domid() {
    }

    /** Parses a decimal or 0x-hex domain id in 0..0x7fef, or explains what is allowed. */
    public static int parse(String text) {
        String t = text == null ? "" : text.strip();
        int value;
        try {
            value = t.startsWith("0x") ? Integer.parseInt(t.substring(2), 16) : Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a domain id (a number from 0 to 32751)");
        }
        if (value < 0 || value >= FIRST_RESERVED || !t.matches("(0x)?[0-9a-fA-F]{1,5}")) {
            throw new IllegalArgumentException("domain id " + text + " is out of range: domain ids are 0 to 32751 (0x7fef)");
        }
        return value;
    }

    /** Like {@link #parse}, refusing domain 0: the control domain must not be paused or destroyed by us. */
    public static int parseGuest(String text, String action) {
        int d = parse(text);
        if (d == 0) {
            throw new IllegalArgumentException("refusing to " + action + " domain 0 (the control domain this runs in)");
        }
        return d;
    }
}
