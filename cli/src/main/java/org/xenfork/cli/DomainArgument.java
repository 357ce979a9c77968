package org.xenfork.cli;

import org.xenfork.privcmd.Domid;

/**
 * A domain named on the command line: an id (decimal or 0x-hex), checked before
 * any device is opened, so a bad one is exit 2 even where there is no privcmd; or
 * a name (names start with a letter, DomainNames.VALID), looked up once the backend
 * is open. Domain 0 is refused either way: nothing here may act on it.
 */
record DomainArgument(String text, String verb, Integer id) {

    static DomainArgument parse(String text, String verb) {
        String t = text == null ? "" : text.strip();
        if (!t.isEmpty() && Character.isLetter(t.charAt(0)) && !t.startsWith("0x")) {
            return new DomainArgument(text, verb, null);
        }
        try {
            return new DomainArgument(text, verb, Domid.parseGuest(text, verb));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** The domain id: the one given, or the one domain that has the name. */
    int resolve(Backend b) {
        return id != null ? id : b.domainNamed(text, verb);
    }
}
