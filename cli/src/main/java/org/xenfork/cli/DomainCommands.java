package org.xenfork.cli;

import java.util.function.ObjIntConsumer;

/** What {@code xenfork pause|unpause|destroy DOMID} share: validation, the backend, one action, a line on stderr. */
final class DomainCommands {
    private DomainCommands() {
    }

    static void apply(XenforkCommand root, String domain, String verb, String done, ObjIntConsumer<Backend> action) {
        var err = root.spec.commandLine().getErr();
        try (Backend b = Backend.open(root, err)) {
            int d = guest(b, domain, verb);
            b.xen().domainInfo(d); // ESRCH names the domain before anything changes
            action.accept(b, d);
            if (!root.dryRun) {
                err.println("xenfork: domain " + d + " " + done);
            }
        }
    }

    /** A domain id or name from the command line; a bad one is exit code 2. */
    static int guest(Backend b, String domain, String verb) {
        try {
            return b.guest(domain, verb);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
