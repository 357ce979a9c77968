package org.xenfork.cli;

import org.xenfork.fork.Forker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code xenfork fork-reset}: XENMEM_sharing_op_fork_reset, with each release's flag rules. */
@Command(name = "fork-reset", description = "Reset a fork to its parent's state and memory (XENMEM_sharing_op_fork_reset).",
        footer = {"",
            "With neither option, both are reset. Xen 4.14 to 4.16 always reset both; --state or --memory alone",
            "needs 4.17. From 4.18 Xen may answer EAGAIN; the reset is retried up to 100 times.",
            "Example:", "  xenfork fork-reset 7"})
final class ForkResetCommand implements Runnable {
    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Option(names = "--state", description = "Reset vCPU and device state (XENMEM_FORK_RESET_STATE).")
    boolean state;

    @Option(names = "--memory", description = "Drop the fork's private pages (XENMEM_FORK_RESET_MEMORY).")
    boolean memory;

    @Parameters(paramLabel = "FORK", description = "The fork's domain id or name.")
    String fork;

    @Override
    public void run() {
        var err = spec.commandLine().getErr();
        boolean both = !state && !memory;
        DomainArgument arg = DomainArgument.parse(fork, "reset");
        try (Backend b = Backend.open(root, err)) {
            int f = arg.resolve(b);
            Forker forker = b.forker(err);
            int flags = forker.resetFlags(state || both, memory || both);
            forker.attach(f).keep().reset(state || both, memory || both);
            if (!root.dryRun) {
                err.println("xenfork: fork " + f + " reset (" + (both || state && memory ? "state and memory"
                        : state ? "state" : "memory") + (flags == 0 ? ", the only reset Xen " + forker.hypervisor().release()
                        + " has" : "") + ")");
            }
        }
    }
}
