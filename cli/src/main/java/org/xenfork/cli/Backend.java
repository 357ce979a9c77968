package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.Forker;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.devicemodel.DeviceModelLauncher;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.HypercallObserver;
import org.xenfork.privcmd.HypercallTrace;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;

/**
 * Where a command's hypercalls go, chosen by {@code --backend}: the real
 * {@code /dev/xen/privcmd}, or a fresh simulated Xen. Owns the open devices;
 * close it to release them.
 */
abstract class Backend implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Backend.class.getName());

    /** The {@code --backend} values. */
    enum Kind { privcmd, sim }

    private Privcmd privcmd;
    private Hypervisor hypervisor;
    private StopRequest stop = new StopRequest();

    /** The backend the global options name, opened, with the trace or dry run they ask for. */
    static Backend open(XenforkCommand root, PrintWriter err) {
        Backend b = root.backend == Kind.sim ? SimBackend.create(root) : new PrivcmdBackend(err);
        LOG.log(System.Logger.Level.DEBUG, "backend {0}{1}{2}", root.backend, root.trace ? ", tracing" : "",
                root.dryRun ? ", dry run" : "");
        XenRelease forced = root.xen == null ? null : XenRelease.parse(root.xen);
        boolean show = root.trace || root.dryRun;
        b.stop = root.signals.request();
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

    /** Starts and stops QEMU device models for this backend's domains (exit 2 where there are none: the simulator). */
    DeviceModelLauncher deviceModels(PrintWriter err, DeviceModelLauncher.Settings settings) {
        throw new UsageException("--backend sim has no QEMU device models: they attach to a real Xen's domains");
    }

    /** Stops {@code domid}'s device model if it has one, as xl destroy does first; the simulator has none. */
    void stopDeviceModel(int domid, PrintWriter err, DeviceModelLauncher.Settings settings) {
    }

    /**
     * The fork workflows over this backend; what they tell the user goes to {@code err}. They stop at
     * their next safe point on a signal once the command has {@linkplain SignalStop#install installed} its hook.
     */
    Forker forker(PrintWriter err) {
        return new Forker(hypervisor, names(), notices(err), stop);
    }

    /** What the library tells the user, as a line on {@code err}. */
    static Consumer<String> notices(PrintWriter err) {
        return notice -> err.println("xenfork: " + notice);
    }

    /** The one domain xenstore (or the simulator) gives this name; exit 2 if none or several. */
    int domainNamed(String name, String action) {
        List<Integer> ids;
        try {
            ids = names().byName(hypervisor.domains().stream().map(DomainInfo::domid).toList()).getOrDefault(name, List.of());
        } catch (IOException e) {
            ids = List.of(); // xenstore failed: the privcmd names said why, once
        }
        if (ids.size() > 1) {
            throw new UsageException("domains " + ids.get(0) + " and " + ids.get(1) + " are both named '" + name
                    + "'; give the domain id");
        }
        if (ids.isEmpty()) {
            throw new UsageException("no domain is named '" + name + "' (give a domain id, or a name xl list shows)");
        }
        int found = ids.get(0);
        if (found == 0) {
            throw new UsageException("refusing to " + action + " domain 0 (the control domain this runs in)");
        }
        return found;
    }

    Hypervisor xen() {
        return hypervisor;
    }

    /** The open privcmd device, for what is not a hypercall: foreign mappings of guest memory. */
    Privcmd privcmd() {
        return privcmd;
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
