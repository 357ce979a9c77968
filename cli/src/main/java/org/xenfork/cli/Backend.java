package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.Optional;
import java.io.IOException;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.Forker;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Domid;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.HypercallObserver;
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
        XenRelease forced = root.xen == null ? null : XenRelease.parse(root.xen);
        boolean show = root.trace || root.dryRun;
        return b.connect(forced, show ? new HypercallTrace(err) : null, root.dryRun);
    }

    /** Opens privcmd over this backend's seam and binds the release's ABI; closes itself on failure. */
    Backend connect(XenRelease forced, HypercallObserver observer, boolean dryRun) {
        try {
            privcmd = Privcmd.open(seam());
            hypervisor = Hypervisor.open(privcmd, forced, observer, dryRun);
            return this;
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    abstract NativeSeam seam();

    /** Where domain names live: xenstore, or the simulator's table. */
    abstract DomainNames names();

    /** Fails with exit code 3 unless names can be written (a command with --name checks first). */
    void requireNames() {
    }

    /** The domain's name as xenstore (or the simulator) knows it; empty when unknown or unreachable. */
    Optional<String> name(int domid) {
        try {
            return names().name(domid);
        } catch (IOException e) {
            return Optional.empty(); // the privcmd names say why themselves, once
        }
    }

    /** The fork workflows over this backend; what they tell the user goes to {@code err}. */
    Forker forker(PrintWriter err) {
        return new Forker(hypervisor, names(), notice -> err.println("xenfork: " + notice));
    }

    /**
     * A domain named on the command line: its id (decimal or 0x-hex), or its
     * name as {@code xl list} shows it. Domain 0 is refused: nothing here may act on it.
     */
    int guest(String text, String action) {
        if (text == null || text.strip().matches("[0-9]+|0x[0-9a-fA-F]+|-.*")) {
            return Domid.parseGuest(text, action); // an id, or a negative number to be refused as one
        }
        for (DomainInfo d : hypervisor.domains()) {
            if (name(d.domid()).filter(n -> n.equals(text)).isPresent()) {
                return Domid.parseGuest(Integer.toString(d.domid()), action);
            }
        }
        throw new UsageException("no domain is named '" + text + "' (give a domain id or a name xl list shows)");
    }

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
