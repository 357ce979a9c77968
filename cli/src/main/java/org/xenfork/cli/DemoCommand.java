package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.Arrays;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.Forker;
import org.xenfork.fork.VmFork;
import org.xenfork.privcmd.HypercallTrace;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork demo}: the main job where there is no Xen. The same code as
 * {@code fork-vm}, {@code fork-reset} and {@code destroy}, run against the
 * simulator, each hypercall decoded as it goes; each outcome is checked, and a
 * wrong one fails the demo.
 */
@Command(name = "demo", description = "Fork a VM on a simulated Xen: fork, run, reset, destroy, with every hypercall decoded.",
        footer = {"", "Always runs on the simulator (no Xen needed); --xen X.Y picks the simulated release (default 4.17).",
            "Example:", "  xenfork demo --xen 4.18"})
final class DemoCommand implements Runnable {
    private static final int PAGES_WRITTEN = 3;

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        XenRelease release = root.xen == null ? SimBackend.DEFAULT_RELEASE : XenRelease.parse(root.xen);
        SimXen sim = root.simulator.apply(release);
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64 * 1024));
        out.printf("xenfork demo: a simulated Xen %s (Intel VT-x with HAP, memory sharing built in).%n"
                + "The fork workflow below is xenfork's own code; only the hypervisor under the ioctl is simulated.%n"
                + "Each hypercall shows Xen's name, the result, the fields sent that are not 0 and the fields Xen changed.%n%n",
                release);
        out.printf("1. A running HVM guest 'parent' is domain %d: 1 vCPU, 64 MiB, %d pages of its own.%n%n",
                parent.domid(), parent.totPages());
        try (Backend b = new SimBackend(sim).connect(release, HypercallTrace.summary(out, "   "), false)) {
            Forker forker = new Forker(b.xen(), b.names(), notice -> out.println("   note: " + notice));
            out.printf("2. xenfork fork-vm --name parent-fork %d%n", parent.domid());
            try (VmFork fork = forker.fork(parent.domid(), ForkOptions.DEFAULT.named("parent-fork"))) {
                SimDomain child = sim.domain(fork.domid()).orElseThrow();
                check(child.parent().orElse(-1) == parent.domid(), "the new domain is a fork of the parent");
                check(Arrays.equals(sim.hvmContext(child.domid()), sim.hvmContext(parent.domid())),
                        "the fork's vCPU state equals the parent's");
                check(!child.isPaused() && parent.isPaused(), "the fork runs and the parent is paused");
                out.printf("   -> fork %d '%s' runs with the parent's vCPU state and no memory of its own "
                        + "(%d pages; it reads the parent's, shared); parent %d paused.%n%n",
                        child.domid(), sim.name(child.domid()).orElse("?"), child.totPages(), parent.domid());

                for (long gfn = 0; gfn < PAGES_WRITTEN; gfn++) {
                    sim.guestAccess(child.domid(), gfn * 7, true);
                }
                check(child.totPages() == PAGES_WRITTEN, "each page the fork writes becomes its own copy");
                out.printf("3. The fork writes %d pages: each becomes its own copy (pages of its own: %d).%n%n",
                        PAGES_WRITTEN, child.totPages());

                out.printf("4. xenfork fork-reset %d%n", child.domid());
                fork.reset();
                check(child.totPages() == 0, "the reset drops the fork's own pages");
                check(Arrays.equals(sim.hvmContext(child.domid()), sim.hvmContext(parent.domid())),
                        "the reset restores the parent's vCPU state");
                out.printf("   -> fork %d is the parent again: pages of its own %d, vCPU state equal.%n%n",
                        child.domid(), child.totPages());
                out.printf("5. xenfork destroy %d; xenfork unpause %d%n", child.domid(), parent.domid());
            }
            b.xen().unpauseDomain(parent.domid());
        }
        check(sim.domains().size() == 2 && !parent.isPaused(), "only Domain-0 and the running parent are left");
        out.printf("%nDone: forked, ran, reset and destroyed a fork; the parent runs again. Nothing is left behind.%n"
                + "On a real Xen (CONFIG_MEM_SHARING, Intel VT-x): bin/xenfork fork-vm -p PARENT, then fork-reset and destroy.%n");
    }

    /** A demo that goes wrong is a bug of xenfork's: it fails loudly (exit 1). */
    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("demo check failed: " + what);
        }
    }
}
