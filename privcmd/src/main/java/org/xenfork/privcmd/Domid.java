package org.xenfork.privcmd;

import org.xenfork.abi.Abi;

/** Domain ids from outside (command lines, files): validated before any hypercall sees them. */
public final class Domid {
    /**
     * DOMID_FIRST_RESERVED: ids from here on (DOMID_SELF, DOMID_IO, …) name no real domain. Ids are
     * checked before the hypervisor's release is known, so this is the oldest supported release's
     * value; the ABI tests hold every release to the same one.
     */
    public static final int FIRST_RESERVED = (int) Abi.anyRelease().constant("DOMID_FIRST_RESERVED");

    private Domid() {
    }

    /** Parses a decimal or 0x-hex domain id in 0..0x7fef, or explains what is allowed. */
    public static int parse(String text) {
        String t = text == null ? "" : text.strip();
        int value;
        try {
            value = t.startsWith("0x") ? Integer.parseInt(t.substring(2), 16) : Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a domain id (a number from 0 to " + (FIRST_RESERVED - 1) + ")");
        }
        if (value < 0 || value >= FIRST_RESERVED || !t.matches("(0x)?[0-9a-fA-F]{1,5}")) {
            throw new IllegalArgumentException("domain id " + text + " is out of range: domain ids are 0 to "
                    + (FIRST_RESERVED - 1) + " (0x" + Integer.toHexString(FIRST_RESERVED - 1) + ")");
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
