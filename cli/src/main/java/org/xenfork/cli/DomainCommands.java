package org.xenfork.cli;

import java.util.function.ObjIntConsumer;
import org.xenfork.privcmd.Domid;

/**
 * What the commands that take a domain share: an id is checked before any
 * device is opened (exit 2 either way); a name is looked up among the domains.
 */
final class DomainCommands {
    private DomainCommands() {
    }

    /** {@code xenfork pause|unpause|destroy DOMAIN}: one action and a line on stderr. */
    static void apply(XenforkCommand root, String domain, String verb, String done, ObjIntConsumer<Backend> action) {
        var err = root.spec.commandLine().getErr();
        Integer id = id(domain, verb);
        try (Backend b = Backend.open(root, err)) {
            int d = id != null ? id : byName(b, domain, verb);
            b.xen().domainInfo(d); // ESRCH names the domain before anything changes
            action.accept(b, d);
            if (!root.dryRun) {
                err.println("xenfork: domain " + d + " " + done);
            }
        }
    }

    /**
     * The domain id the argument spells (decimal or 0x-hex; domain 0 refused),
     * or null when it is a name. Names start with a letter (DomainNames.VALID).
     */
    static Integer id(String domain, String verb) {
        if (domain != null && !domain.strip().isEmpty() && Character.isLetter(domain.strip().charAt(0))
                && !domain.strip().startsWith("0x")) {
            return null;
        }
        try {
            return Domid.parseGuest(domain, verb);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static int byName(Backend b, String name, String verb) {
        return b.domainNamed(name, verb);
    }
}
