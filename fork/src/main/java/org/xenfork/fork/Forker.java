package org.xenfork.fork;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import org.xenfork.abi.Abi;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.XenException;

/**
 * Forks paused HVM guests, as Xen's posted {@code xl fork-vm} meant to
 * (libxl_domain_fork_vm, tklengyel/vm_forking_19) and as KF/x does: check the
 * parent, pause it if it runs, create an empty domain like it, fork it, name
 * it, unpause it. Any failure after createdomain destroys that domain; a pause
 * taken here is undone when no fork was made.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
 *      Hypervisor xen = Hypervisor.open(privcmd, null, null, false)) {
 *     Forker forker = new Forker(xen, DomainNames.NONE, System.err::println);
 *     try (VmFork fork = forker.fork(parent, ForkOptions.DEFAULT.paused().blockingInterrupts())) {
 *         for (int i = 0; i < 1000; i++) {
 *             fork.unpause(); // run an input …
 *             fork.pause();
 *             fork.reset();   // … and back to the parent's state
 *         }
 *     } // destroyed here
 * }
 * }</pre>
 *
 * Not thread-safe, like the {@link Hypervisor} it drives.
 */
public final class Forker {
    private static final System.Logger LOG = System.getLogger(Forker.class.getName());
    /**
     * libxl's defaults ({@code LIBXL_MAX_GRANT_FRAMES_DEFAULT} and {@code LIBXL_MAX_MAPTRACK_FRAMES_DEFAULT}
     * in tools/include/libxl.h), which the posted libxl_domain_fork_vm (tklengyel/xen, vm_forking_19)
     * requires of a parent; KF/x's src/forkvm.c uses the same.
     */
    static final int MAX_EVTCHN_PORT = 1023;
    static final int MAX_GRANT_FRAMES = 32;
    static final int MAX_MAPTRACK_FRAMES = 1024;

    private final Hypervisor xen;
    private final DomainNames names;
    private final Consumer<String> notices;
    private final StopRequest stop;
    private final long flagIommu;
    private final long flagBlockInterrupts;
    private final long resetState;   // 0 before 4.17: fork_reset takes no flags there
    private final long resetMemory;
    /** The child's createdomain flags: XEN_DOMCTL_CDF_hvm | _hap | _oos_off of the release. */
    private final long childFlags;
    /** Whether the release's xen_domctl_createdomain has grant_opts (4.16 on). */
    private final boolean hasGrantOpts;
    /** XEN_SYSCTL_PHYSCAP_gnttab_v2 where there is grant_opts, else 0. */
    private final long capGnttabV2;
    private final long emuLapic;
    private long hostCaps = -1;

    /**
     * @param names   where fork names go ({@link DomainNames#NONE} for no names)
     * @param notices receives what the user should know (a parent paused for them, a dry-run id)
     */
    public Forker(Hypervisor xen, DomainNames names, Consumer<String> notices) {
        this(xen, names, notices, new StopRequest());
    }

    /**
     * A forker whose workflows stop at their next safe point once {@code stop} is requested
     * (see {@link #fork(int, int, ForkOptions, Consumer)}).
     */
    public Forker(Hypervisor xen, DomainNames names, Consumer<String> notices, StopRequest stop) {
        this.xen = xen;
        this.names = names;
        this.notices = notices;
        this.stop = stop;
        Abi abi = xen.abi();
        flagIommu = abi.constant("XENMEM_FORK_WITH_IOMMU_ALLOWED");
        flagBlockInterrupts = abi.constant("XENMEM_FORK_BLOCK_INTERRUPTS");
        resetState = abi.findConstant("XENMEM_FORK_RESET_STATE").orElse(0L);
        resetMemory = abi.findConstant("XENMEM_FORK_RESET_MEMORY").orElse(0L);
        childFlags = abi.constant("XEN_DOMCTL_CDF_hvm") | abi.constant("XEN_DOMCTL_CDF_hap")
                | abi.constant("XEN_DOMCTL_CDF_oos_off");
        hasGrantOpts = abi.struct("xen_domctl_createdomain").field("grant_opts").isPresent();
        capGnttabV2 = hasGrantOpts ? abi.constant("XEN_SYSCTL_PHYSCAP_gnttab_v2") : 0;
        emuLapic = abi.constant("XEN_X86_EMU_LAPIC");
    }

    public Hypervisor hypervisor() {
        return xen;
    }

    /** Where this forker's names go. */
    public DomainNames names() {
        return names;
    }

    /** What stops this forker's workflows (and the device-model workflows over it) at their next safe point. */
    public StopRequest stop() {
        return stop;
    }

    /** One fork of {@code parent}. */
    public VmFork fork(int parent, ForkOptions options) {
        return fork(parent, 1, options, f -> { }).get(0);
    }

    /**
     * {@code count} forks of {@code parent}, each handed to {@code made} as soon
     * as it exists. Stops at the first failure: that fork is rolled back, the
     * ones before it are kept (and listed in the {@link ForkException}).
     *
     * <p>A {@linkplain #stop() stop request} is honoured between forks, never inside one: a fork
     * whose createdomain was issued is finished (a few bounded hypercalls) or, if a step fails,
     * rolled back as always, so no half-made fork is left. The forks made are kept and the parent
     * stays paused, unless no fork was made and the pause was taken here, which is then undone.
     *
     * @throws ForkRequestException the parent cannot be forked (dom0, PV, no
     *         HAP, dying) or a name is taken; nothing was changed
     * @throws ForkException a step failed; see its message for what was undone
     * @throws StoppedException a stop was requested; see {@link StoppedException#kept()}
     */
    public List<VmFork> fork(int parent, int count, ForkOptions options, Consumer<VmFork> made) {
        if (count < 1) {
            throw new ForkRequestException("the number of forks must be at least 1, not " + count);
        }
        DomainInfo p = checkParent(parent);
        List<String> newNames = checkNames(options, count);
        DomainConfig config = childConfig(p);
        int flags = (int) ((options.allowIommu() ? flagIommu : 0) | (options.blockInterrupts() ? flagBlockInterrupts : 0));

        boolean pausedHere = false;
        if (!p.has(DomainFlag.PAUSED)) { // the toolstack's pause; a parent of forks is paused by Xen, not shown here
            run(ForkStep.PAUSE_PARENT, () -> xen.pauseDomain(parent));
            pausedHere = true;
            notices.accept((xen.dryRun() ? "would pause" : "paused") + " parent " + parent
                    + ": it was not paused by the toolstack (it stays paused while its forks exist; "
                    + "unpause it after destroying them)");
        }
        if (xen.dryRun()) {
            notices.accept("dry run: createdomain is not issued, so Xen picks no id; "
                    + "the calls below show domain=0 where the fork's id would be");
        }
        List<VmFork> forks = new ArrayList<>();
        List<Integer> kept = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            if (stop.requested()) { // the one safe point: between whole forks
                Undo pause = pausedHere && forks.isEmpty() ? undoPause(parent)
                        : Undo.done(Undo.Action.KEEP_PARENT_PAUSED, parent);
                throw stop.stopped(count == 1 ? "before forking domain " + parent : "before fork " + i + " of " + count,
                        kept, List.of(pause));
            }
            VmFork f;
            try {
                f = forkOne(parent, config, flags, options.leavePaused(), newNames.get(i - 1), pvh(p), kept);
            } catch (ForkException e) {
                throw pausedHere && forks.isEmpty() ? undoPause(parent, e) : e;
            } catch (RuntimeException | Error e) { // a bug or an OutOfMemoryError: still give the parent back
                if (pausedHere && forks.isEmpty()) {
                    undoPause(parent).failureCause().ifPresent(e::addSuppressed);
                }
                throw e;
            }
            forks.add(f);
            kept.add(f.domid());
            made.accept(f);
        }
        return forks;
    }

    /** An existing fork, to reset or destroy; closing it destroys it unless {@link VmFork#keep()}. */
    public VmFork attach(int fork) {
        if (fork == 0) {
            throw new ForkRequestException("domain 0 is not a fork (it is the control domain)");
        }
        DomainInfo d = info(ForkStep.FIND, fork);
        return new VmFork(this, d.domid(), -1, null);
    }

    /**
     * The fork_reset flags for a reset of state and/or memory in this release:
     * 0 up to 4.16 (both always; asking for one alone is refused), the
     * XENMEM_FORK_RESET_* bits from 4.17.
     */
    public int resetFlags(boolean state, boolean memory) {
        if (!state && !memory) {
            throw new ForkRequestException("a reset needs --state, --memory or both");
        }
        if (resetState == 0) {
            if (!(state && memory)) {
                throw new ForkRequestException("Xen " + xen.release() + " always resets state and memory together; "
                        + "resetting only " + (state ? "state" : "memory") + " needs Xen 4.17 or later");
            }
            return 0;
        }
        return (int) ((state ? resetState : 0) | (memory ? resetMemory : 0));
    }

    /** {@code XENMEM_sharing_op_fork_reset} of {@code fork} with flags from {@link #resetFlags}. */
    void reset(int fork, int flags) {
        try { // not step(): a capturing lambda per reset would allocate on the hot path
            xen.forkReset(fork, flags);
        } catch (XenException e) {
            throw new ForkException(ForkStep.RESET, e, List.of());
        }
    }

    /**
     * Destroys a domain and removes what {@link DomainNames#assign} wrote for it
     * ({@code xl destroy} also tears down devices, which forks made here have none of).
     */
    public void destroy(int domid) {
        if (domid == 0) {
            throw new ForkRequestException("refusing to destroy domain 0 (the control domain)");
        }
        run(ForkStep.DESTROY, () -> xen.destroyDomain(domid));
        if (!xen.dryRun()) {
            run(ForkStep.DESTROY, () -> names.remove(domid));
        }
    }

    void pause(int domid) {
        run(ForkStep.PAUSE, () -> xen.pauseDomain(domid));
    }

    void unpause(int domid) {
        run(ForkStep.UNPAUSE, () -> xen.unpauseDomain(domid));
    }

    // ---- the steps ----

    private DomainInfo checkParent(int parent) {
        if (parent == 0) {
            throw new ForkRequestException("domain 0 cannot be forked (it is the control domain)");
        }
        DomainInfo p = info(ForkStep.CHECK_PARENT, parent);
        if (p.has(DomainFlag.DYING)) {
            throw new ForkRequestException("domain " + parent + " is being destroyed and cannot be forked");
        }
        if (!p.has(DomainFlag.HVM_GUEST)) {
            throw new ForkRequestException("domain " + parent + " is a PV guest; forking needs an HVM or PVH guest");
        }
        if (!p.has(DomainFlag.HAP)) {
            throw new ForkRequestException("domain " + parent + " uses shadow paging; forking needs HAP "
                    + "(create the guest with hap=1 on a host with EPT)");
        }
        return p;
    }

    private DomainInfo info(ForkStep step, int domid) {
        return step(step, () -> xen.domainInfo(domid));
    }

    /** The batch's names, refusing any that a domain already has (xl keeps names unique too). */
    private List<String> checkNames(ForkOptions options, int count) {
        List<String> wanted = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            String n = options.nameOf(i);
            if (n != null && !DomainNames.VALID.matcher(n).matches()) {
                throw new ForkRequestException("the name '" + n + "' is too long (64 characters at most)");
            }
            wanted.add(n);
        }
        if (options.name() == null) {
            return wanted;
        }
        Map<String, List<Integer>> taken = step(ForkStep.CHECK_NAMES,
                () -> names.byName(xen.domains().stream().map(DomainInfo::domid).toList()));
        for (String n : wanted) {
            if (taken.containsKey(n)) {
                throw new ForkRequestException("the name '" + n + "' is already used by domain " + taken.get(n).get(0));
            }
        }
        return wanted;
    }

    /**
     * The child as libxl_domain_fork_vm and KF/x (src/forkvm.c) create it: hvm|hap|oos_off,
     * the parent's max_vcpus, emulation and misc flags and ssidref, libxl's defaults, a
     * fresh UUID. Public for the benchmarks that time the hypercalls without the workflow.
     */
    public DomainConfig childConfig(DomainInfo p) {
        long grantOpts = 0;
        if (hasGrantOpts) {
            grantOpts = (physCaps() & capGnttabV2) != 0 ? 2 : 1; // libxl's default: the highest version the host offers
        }
        return new DomainConfig(p.ssidref(), uuid(), childFlags,
                0, p.maxVcpus(), MAX_EVTCHN_PORT, MAX_GRANT_FRAMES, MAX_MAPTRACK_FRAMES, grantOpts, 0, 0,
                p.emulationFlags(), p.miscFlags());
    }

    /** The host's XEN_SYSCTL_PHYSCAP_* bits, asked once per Forker: they do not change while Xen runs. */
    private long physCaps() {
        if (hostCaps < 0) {
            hostCaps = step(ForkStep.CHECK_HOST, () -> xen.physinfo().capabilities());
        }
        return hostCaps;
    }

    /** PVH: an HVM container emulating nothing but the local APIC (libxl's type pvh). */
    public boolean pvh(DomainInfo p) {
        return (p.emulationFlags() & ~emuLapic) == 0;
    }

    private static byte[] uuid() {
        UUID u = UUID.randomUUID();
        return ByteBuffer.allocate(16).putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits()).array();
    }

    /** createdomain, fork, name, unpause; on any failure the new domain is destroyed again. */
    private VmFork forkOne(int parent, DomainConfig config, int flags, boolean leavePaused, String name, boolean pvh,
                           List<Integer> kept) {
        int child = -1;
        boolean named = false;
        ForkStep step = ForkStep.CREATE;
        try {
            child = xen.createDomain(0, config);
            LOG.log(System.Logger.Level.INFO, "created domain {0} like parent {1} (max_vcpus {2}, emulation_flags 0x{3})",
                    child, parent, config.maxVcpus(), Long.toHexString(config.emulationFlags()));
            step = ForkStep.FORK;
            xen.fork(parent, child, flags);
            LOG.log(System.Logger.Level.INFO, "domain {0} is now a fork of {1} (flags 0x{2})", child, parent,
                    Integer.toHexString(flags));
            if (name != null) {
                step = ForkStep.NAME;
                if (xen.dryRun()) {
                    notices.accept("would name the fork '" + name + "' in xenstore");
                } else {
                    named = true;
                    names.assign(child, name, pvh);
                }
            }
            if (!leavePaused) {
                step = ForkStep.UNPAUSE;
                xen.unpauseDomain(child);
            }
            return new VmFork(this, child, parent, name);
        } catch (XenException | IOException e) {
            throw new ForkException(step, e, child < 0 ? List.of() : destroyHalfMade(child, named), kept);
        } catch (RuntimeException | Error e) { // not a refusal: a bug, or out of memory; leave nothing behind even so
            if (child >= 0) {
                destroyHalfMade(child, named).forEach(u -> u.failureCause().ifPresent(e::addSuppressed));
            }
            throw e;
        }
    }

    private List<Undo> destroyHalfMade(int child, boolean named) {
        LOG.log(System.Logger.Level.INFO, "rolling back: destroying the half-made fork {0}", child);
        List<Undo> undone = new ArrayList<>();
        try {
            xen.destroyDomain(child);
            undone.add(Undo.done(Undo.Action.DESTROY_HALF_MADE_FORK, child));
        } catch (XenException e) {
            undone.add(Undo.failed(Undo.Action.DESTROY_HALF_MADE_FORK, child, List.of(), e));
        }
        if (named) {
            try {
                names.remove(child);
                undone.add(Undo.done(Undo.Action.REMOVE_NAME, child));
            } catch (IOException e) {
                undone.add(Undo.failed(Undo.Action.REMOVE_NAME, child, List.of(), e));
            }
        }
        return undone;
    }

    /** Gives back the pause taken here, as one more step of the failure's rollback. */
    private ForkException undoPause(int parent, ForkException failure) {
        return failure.withUndo(undoPause(parent));
    }

    private Undo undoPause(int parent) {
        try {
            xen.unpauseDomain(parent);
            return Undo.done(Undo.Action.UNPAUSE_PARENT, parent);
        } catch (XenException e) {
            return Undo.failed(Undo.Action.UNPAUSE_PARENT, parent, List.of(), e);
        }
    }

    @FunctionalInterface
    private interface Body<T> {
        T get() throws IOException;
    }

    @FunctionalInterface
    private interface Step {
        void run() throws IOException;
    }

    /** One step outside the fork's own sequence: a refusal becomes a ForkException naming it, with nothing to undo. */
    private static <T> T step(ForkStep step, Body<T> body) {
        try {
            return body.get();
        } catch (XenException | IOException e) {
            throw new ForkException(step, e, List.of());
        }
    }

    private static void run(ForkStep step, Step body) {
        step(step, () -> {
            body.run();
            return null;
        });
    }
}
