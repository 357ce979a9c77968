package org.xenfork.cli;

import java.util.function.ObjIntConsumer;
import org.xenfork.privcmd.Domid;
import org.xenfork.privcmd.Hypervisor;

/** What {@code xenfork pause|unpause|destroy DOMID} share: validation, the backend, one domctl, a line on stderr. */
final class DomainCommands {
    private DomainCommands() {
    }

    static void apply(XenforkCommand root, String domid, String verb, String done, ObjIntConsumer<Hypervisor> call) {
        int d;
        try {
            d = Domid.parseGuest(domid, verb);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        var err = root.spec.commandLine().getErr();
        try (Backend b = Backend.open(root, err)) {
            b.xen().domainInfo(d); // ESRCH names the domain before anything changes
            call.accept(b.xen(), d);
            if (!root.dryRun) {
                err.println("xenfork: domain " + d + " " + done);
            }
        }
    }
}
