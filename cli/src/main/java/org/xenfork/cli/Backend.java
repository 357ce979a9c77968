package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.Optional;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.HypercallTrace;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;

/**
 * Where a command's hypercalls go, chosen by {@code --backend}: the real
 * {@code /dev/xen/privcmd}, or a fresh simulated Xen. Owns the open devices;
 * close it to release them.
 */
abstract class Backend implements AutoCloseable {

    /** The {@code --backend} values. */
    enum Kind { privcmd, sim }

    private Privcmd privcmd;
    private Hypervisor hypervisor;

    /** The backend the global options name, opened, with the trace or dry run they ask for. */
    static Backend open(XenforkCommand root, PrintWriter err) {
        Backend b = root.backend == Kind.sim ? SimBackend.create(root) : new PrivcmdBackend(err);
        try {
            XenRelease forced = root.xen == null ? null : XenRelease.parse(root.xen);
            b.privcmd = Privcmd.open(b.seam());
            boolean show = root.trace || root.dryRun;
            b.hypervisor = Hypervisor.open(b.privcmd, forced, show ? new HypercallTrace(err) : null, root.dryRun);
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    abstract NativeSeam seam();

    /** The domain's name as xenstore (or the simulator) knows it. */
    abstract Optional<String> name(int domid);

    Hypervisor xen() {
        return hypervisor;
    }

    @Override
    public void close() {
        if (hypervisor != null) {
            hypervisor.close();
        }
        if (privcmd != null) {
            privcmd.close();
        }
        closeNames();
    }

    void closeNames() {
    }
}
