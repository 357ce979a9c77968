package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.Forker;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.Undo;
import org.xenfork.fork.VmFork;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.qmp.QmpClient;

/**
 * The device-model half of forking, as the posted {@code xl fork-vm} does it: a
 * fork with its own QEMU started right away ({@code --launch-dm yes}), or a QEMU
 * for an existing fork that turned out to need devices ({@code --launch-dm late},
 * {@code fork-launch-dm}). The QEMU loads the device state the parent's QEMU saved
 * ({@link DeviceStateFile}) while both domains are paused, so devices and memory
 * are from the same instant.
 *
 * <pre>{@code
 * var forks = new DeviceModelForks(forker, launcher);
 * VmFork f = forks.fork(parent, ForkOptions.DEFAULT.named("web-1"), cfg, Path.of("parent.state"));
 * }</pre>
 */
public final class DeviceModelForks {
    /** How long the QMP {@code cont} of a QEMU held with {@code -S} may take. */
    private static final Duration QMP_TIMEOUT = Duration.ofSeconds(10);

    private final Forker forker;
    private final DeviceModelLauncher launcher;

    public DeviceModelForks(Forker forker, DeviceModelLauncher launcher) {
        this.forker = forker;
        this.launcher = launcher;
    }

    /**
     * Forks the paused {@code parent} and starts the fork's QEMU with the parent's
     * saved device state; the fork runs once its QEMU does, unless
     * {@link ForkOptions#leavePaused}. If QEMU fails, the fork is destroyed.
     *
     * <p>On a {@linkplain Forker#stop() stop request}: before the fork exists, nothing is made; after
     * it, until its QEMU is up, QEMU is killed, its keys removed and the fork destroyed; once QEMU is
     * up, the fork is finished (let run unless paused) and returned. The parent stays paused.
     *
     * @throws ForkRequestException the parent is not paused (its device state would
     *         not match its memory), or the config does not fit it; nothing changed
     * @throws StoppedException a stop was requested; nothing of this fork is left
     */
    public VmFork fork(int parent, ForkOptions options, DeviceModelConfig cfg, Path saveFile) throws IOException {
        DeviceStateFile.check(saveFile);
        DomainInfo p = forker.hypervisor().domainInfo(parent);
        if (!p.has(DomainFlag.PAUSED)) {
            throw new ForkRequestException("parent " + parent + " is running: pause it before saving its device state "
                    + "(xenfork pause " + parent + "; xenfork save-devices-state --domid " + parent + " FILE), so that "
                    + "the state in " + saveFile + " matches the memory the fork gets");
        }
        fits(parent, p, cfg);
        ForkOptions held = options.paused().named(options.name() != null ? options.name() : cfg.name());
        VmFork f = forker.fork(parent, held);
        StopRequest stop = forker.stop();
        DeviceModel dm;
        try {
            if (stop.requested()) {
                throw stop.stopped("before fork " + f.domid() + "'s QEMU was started", List.of(), List.of());
            }
            dm = launcher.launch(f.domid(), cfg, saveFile, stop);
        } catch (IOException | RuntimeException e) {
            Undo destroyed;
            try {
                f.destroy();
                destroyed = Undo.done(Undo.Action.DESTROY_FORK, f.domid());
            } catch (RuntimeException d) {
                destroyed = Undo.failed(Undo.Action.DESTROY_FORK, f.domid(), List.of(), d);
            }
            if (e instanceof ForkException fe) {
                throw fe.withUndo(destroyed);
            }
            if (e instanceof StoppedException se) {
                throw se.withUndo(List.of(destroyed, Undo.done(Undo.Action.KEEP_PARENT_PAUSED, parent)));
            }
            destroyed.failureCause().ifPresent(e::addSuppressed);
            throw e;
        }
        if (!options.leavePaused()) {
            run(f.domid(), dm);
        }
        return f;
    }

    /**
     * Starts a QEMU for the existing fork {@code fork} with the parent's saved device
     * state, and lets the fork run unless {@code leavePaused}. A fork without a name
     * gets the config's. If QEMU fails, the fork stays as it was (apart from that name).
     *
     * @throws StoppedException a {@linkplain Forker#stop() stop} was requested before QEMU was up:
     *         QEMU was killed and its keys removed, as when it fails; once QEMU is up the launch is finished
     */
    public DeviceModel launch(int fork, DeviceModelConfig cfg, Path saveFile, boolean leavePaused) throws IOException {
        DeviceStateFile.check(saveFile);
        if (fork == 0) {
            throw new ForkRequestException("domain 0 is the control domain, not a fork");
        }
        DomainInfo d = forker.hypervisor().domainInfo(fork);
        fits(fork, d, cfg);
        StopRequest stop = forker.stop();
        if (stop.requested()) {
            throw stop.stopped("before domain " + fork + "'s QEMU was started", List.of(), List.of());
        }
        if (forker.names().name(fork).isEmpty()) {
            List<Integer> holders = forker.names().byName(forker.hypervisor().domains().stream()
                    .map(DomainInfo::domid).toList()).getOrDefault(cfg.name(), List.of());
            if (!holders.isEmpty()) {
                throw new ForkRequestException("name '" + cfg.name() + "' (the config's) is taken by domain "
                        + holders.get(0) + "; give the fork's config its own name");
            }
            forker.names().assign(fork, cfg.name(), false);
        }
        DeviceModel dm = launcher.launch(fork, cfg, saveFile, stop);
        if (!leavePaused) {
            run(fork, dm);
        }
        return dm;
    }

    /** A device model must be the parent's: same vCPU count, an HVM domain with emulated devices. */
    private void fits(int domid, DomainInfo d, DeviceModelConfig cfg) {
        if (!d.has(DomainFlag.HVM_GUEST) || forker.pvh(d)) {
            throw new ForkRequestException("domain " + domid + " is not an HVM guest with emulated devices "
                    + "(PV or PVH); it has no device model to launch");
        }
        if (cfg.maxVcpus() != d.maxVcpus()) {
            throw new ForkRequestException("the config gives " + cfg.maxVcpus() + " vCPUs (maxvcpus, else vcpus) but "
                    + "domain " + domid + " has " + d.maxVcpus() + "; the fork's device model must match its parent");
        }
    }

    /** QEMU may hold the guest ({@code -S} in its arguments): let it go, then unpause the domain, as xl unpause does. */
    private void run(int domid, DeviceModel dm) throws IOException {
        if (dm.status().equals("paused")) {
            try (QmpClient c = QmpClient.connect(dm.qmp(), QMP_TIMEOUT)) {
                c.cont(QMP_TIMEOUT);
            }
        }
        Hypervisor xen = forker.hypervisor();
        if (xen.domainInfo(domid).has(DomainFlag.PAUSED)) {
            try {
                xen.unpauseDomain(domid);
            } catch (RuntimeException e) {
                throw new ForkException(ForkStep.UNPAUSE, e, List.of(Undo.done(Undo.Action.KEEP_PAUSED_FORK, domid)));
            }
        }
    }
}
