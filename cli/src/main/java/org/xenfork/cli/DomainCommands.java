package org.xenfork.cli;

import org.xenfork.privcmd.Domid;
import org.xenfork.privcmd.Hypervisor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code xenfork pause|unpause|destroy DOMID}: one domctl each, on a guest (never domain 0). */
final class DomainCommands {
    private DomainCommands() {
    }

    /** What the three share: the validated domid, the backend, one call, a line on stderr. */
    abstract static class OnDomain implements Runnable {
        @ParentCommand
        XenforkCommand root;

        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "DOMID", description = "The domain id (1 to 32751).")
        String domid;

        abstract String verb();

        abstract String done();

        abstract void apply(Hypervisor xen, int domid);

        @Override
        public void run() {
            int d;
            try {
                d = Domid.parseGuest(domid, verb());
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            try (Backend b = Backend.open(root, spec.commandLine().getErr())) {
                b.xen().domainInfo(d); // ESRCH names the domain before anything changes
                apply(b.xen(), d);
                if (!root.dryRun) {
                    spec.commandLine().getErr().println("xenfork: domain " + d + " " + done());
                }
            }
        }
    }

    @Command(name = "pause", description = "Pause a domain (XEN_DOMCTL_pausedomain).",
            footer = {"", "Example:", "  xenfork pause 5"})
    static final class Pause extends OnDomain {
        @Override
        String verb() {
            return "pause";
        }

        @Override
        String done() {
            return "paused";
        }

        @Override
        void apply(Hypervisor xen, int domid) {
            xen.pauseDomain(domid);
        }
    }

    @Command(name = "unpause", description = "Unpause a domain paused by the toolstack (XEN_DOMCTL_unpausedomain).",
            footer = {"", "Example:", "  xenfork unpause 5"})
    static final class Unpause extends OnDomain {
        @Override
        String verb() {
            return "unpause";
        }

        @Override
        String done() {
            return "unpaused";
        }

        @Override
        void apply(Hypervisor xen, int domid) {
            xen.unpauseDomain(domid);
        }
    }

    @Command(name = "destroy", description = "Destroy a domain (XEN_DOMCTL_destroydomain).",
            footer = {"", "Example:", "  xenfork destroy 5"})
    static final class Destroy extends OnDomain {
        @Override
        String verb() {
            return "destroy";
        }

        @Override
        String done() {
            return "destroyed";
        }

        @Override
        void apply(Hypervisor xen, int domid) {
            xen.destroyDomain(domid);
        }
    }
}
