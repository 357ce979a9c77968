package org.xenfork.cli;

import java.util.function.ObjIntConsumer;

/** What {@code xenfork pause|unpause|destroy DOMAIN} share: the domain, the backend, one action, a line on stderr. */
final class DomainCommands {
    private DomainCommands() {
    }

    static void apply(XenforkCommand root, String domain, String verb, String done, ObjIntConsumer<Backend> action) {
        var err = root.spec.commandLine().getErr();
        DomainArgument arg = DomainArgument.parse(domain, verb);
        try (Backend b = Backend.open(root, err)) {
            int d = arg.resolve(b);
            b.xen().domainInfo(d); // ESRCH names the domain before anything changes
            action.accept(b, d);
            if (!root.dryRun) {
                err.println("xenfork: domain " + d + " " + done);
            }
        }
    }
}
