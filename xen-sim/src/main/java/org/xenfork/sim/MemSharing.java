package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;

/**
 * {@code XENMEM_sharing_op}: {@code mem_sharing_memop} in
 * xen/arch/x86/mm/mem_sharing.c for {@code fork} and {@code fork_reset}, with
 * every check of it, of {@code fork()} and of {@code mem_sharing_fork_reset}
 * in Xen's order and each release's variant.
 * The other sharing ops (nominate, share, range_share, debug, audit, …) are
 * not modelled: after the common checks they return ENOSYS.
 *
 * <p>Also the lazy population of a fork's memory ({@code mem_sharing_fork_page})
 * and unsharing, which in Xen run on an EPT fault of the guest (here
 * {@link SimXen#guestAccess}) and when dom0 maps one of its frames
 * ({@code get_page_from_gfn} in {@code mod_l1_entry}, here {@link MmuUpdate}):
 * {@link #resolve}.
 *
 * <p>Not modelled inside fork: the HAP pool (its -ERESTART continuation is
 * transparent to the caller anyway), CPU policies, vmtrace, HVM params,
 * special pages, TSC settings, vPMU.
 */
final class MemSharing {
    private final XenRelease release;
    private final DomainTable domains;
    private final DomainLifecycle lifecycle;
    private final HvmSaveRestore hvm;
    private final Host host;
    private final int size;
    private final Leaf opLeaf;
    private final Leaf domainLeaf;
    private final Leaf parentDomain;
    private final Leaf forkFlags;
    private final Leaf forkPad;
    private final long fork;
    private final long forkReset;
    private final long withIommuAllowed;
    private final long blockInterrupts;
    private final Long resetState;
    private final Long resetMemory;

    MemSharing(Abi abi, DomainTable domains, DomainLifecycle lifecycle, HvmSaveRestore hvm, Host host) {
        this.release = abi.release();
        this.domains = domains;
        this.lifecycle = lifecycle;
        this.hvm = hvm;
        this.host = host;
        StructLayout mso = abi.struct("xen_mem_sharing_op");
        this.size = mso.size();
        this.opLeaf = mso.leaf("op");
        this.domainLeaf = mso.leaf("domain");
        this.parentDomain = mso.leaf("u.fork.parent_domain");
        this.forkFlags = mso.leaf("u.fork.flags");
        this.forkPad = mso.leaf("u.fork.pad");
        this.fork = abi.constant("XENMEM_sharing_op_fork");
        this.forkReset = abi.constant("XENMEM_sharing_op_fork_reset");
        this.withIommuAllowed = abi.constant("XENMEM_FORK_WITH_IOMMU_ALLOWED");
        this.blockInterrupts = abi.constant("XENMEM_FORK_BLOCK_INTERRUPTS");
        // XENMEM_FORK_RESET_STATE / _MEMORY exist from 4.17.
        this.resetState = abi.findConstant("XENMEM_FORK_RESET_STATE").orElse(null);
        this.resetMemory = abi.findConstant("XENMEM_FORK_RESET_MEMORY").orElse(null);
    }

    int size() {
        return size;
    }

    Leaf opLeaf() {
        return opLeaf;
    }

    Leaf domainLeaf() {
        return domainLeaf;
    }

    /**
     * mem_sharing_memop: copy in (EFAULT); lock the child (ESRCH, EPERM,
     * EINVAL); enable sharing on it with flags 0 if needed (EOPNOTSUPP, ENODEV,
     * EXDEV); run the op; copy the struct back on success (EFAULT).
     */
    long memop(GuestMemory mem, long address) {
        byte[] mso = mem.copyFromGuest(address, size);
        SimDomain d = domains.liveRemote(domainLeaf.read(mso, 0));
        if (!d.sharingEnabled) {
            control(d, 0);
        }
        long op = opLeaf.read(mso, 0);
        if (op == fork) {
            fork(mso, d);
        } else if (op == forkReset) {
            forkReset(mso, d);
        } else {
            return -Errno.ENOSYS;
        }
        mem.copyToGuest(address, mso);
        return 0;
    }

    /**
     * mem_sharing_control(d, true, flags): EOPNOTSUPP unless HVM on a VMX host
     * (so every AMD host), ENODEV without HAP, EXDEV with an IOMMU unless the
     * flags allow it.
     */
    private void control(SimDomain d, long flags) {
        XenError.failIf(!d.hvm || !host.hasVmx(), Errno.EOPNOTSUPP);
        XenError.failIf(!d.hap, Errno.ENODEV);
        XenError.failIf(d.iommu && (flags & withIommuAllowed) == 0, Errno.EXDEV);
        d.sharingEnabled = true;
    }

    /** XENMEM_sharing_op_fork: {@code xen_mem_sharing_op.domain} is the child, {@code u.fork.parent_domain} the parent. */
    private void fork(byte[] mso, SimDomain child) {
        long flags = forkFlags.read(mso, 0);
        XenError.failIf(forkPad.read(mso, 0) != 0, Errno.EINVAL);
        XenError.failIf((flags & ~(withIommuAllowed | blockInterrupts)) != 0, Errno.EINVAL);
        SimDomain parent = domains.liveRemote(parentDomain.read(mso, 0));
        XenError.failIf(parent.maxVcpus != child.maxVcpus, Errno.EINVAL);
        if (!parent.sharingEnabled) {
            control(parent, flags);
        }
        forkDomain(child, parent);
        if ((flags & blockInterrupts) != 0) {
            child.blockInterrupts = true;
        }
    }

    /**
     * fork(cd, d): EBUSY unless the child is paused by the controller. The
     * first time, the child takes a reference on the parent, pauses it for as
     * long as the fork exists, and inherits {@code max_pages}. Then its vCPUs
     * are brought up and the parent's settings copied. Xen undoes the parent
     * link if those steps fail; with equal max_vcpus (checked before) and the
     * records the simulator models they cannot fail here, so there is nothing
     * to undo.
     */
    private void forkDomain(SimDomain child, SimDomain parent) {
        XenError.failIf(child.controllerPauseCount == 0, Errno.EBUSY);
        if (child.parent == null) {
            lifecycle.takeForkReference(parent);
            lifecycle.pause(parent);
            child.maxPages = parent.maxPages;
            child.parent = parent;
        }
        // bring_up_vcpus: a vCPU for each one the parent has.
        lifecycle.createVcpus(child, parent.allocatedVcpus);
        copySettings(child, parent);
    }

    /**
     * copy_settings: the parent's whole HVM context is saved and loaded into
     * the child ({@code hvm_copy_context_and_params}), and the child's
     * shared_info is remapped at the parent's gfn ({@code copy_special_pages}).
     */
    private void copySettings(SimDomain child, SimDomain parent) {
        hvm.load(child, hvm.save(parent, host));
        child.monitorRingGfn = parent.monitorRingGfn; // hvm_copy_context_and_params copies the HVM params
        child.sharedInfoFrame = parent.sharedInfoFrame;
    }

    /**
     * XENMEM_sharing_op_fork_reset. 4.14–4.16: flags and pad must be 0 and both
     * memory and state are reset (4.14/4.15 also re-lock the parent). 4.17+:
     * flags must be a non-empty subset of RESET_STATE|RESET_MEMORY. Not a fork:
     * ENOSYS. The child is paused by Xen for the reset; the controller's pause
     * count is untouched.
     */
    private void forkReset(byte[] mso, SimDomain d) {
        long flags = forkFlags.read(mso, 0);
        boolean state;
        boolean memory;
        if (resetState == null) {
            XenError.failIf(forkPad.read(mso, 0) != 0 || flags != 0, Errno.EINVAL);
            state = true;
            memory = true;
        } else {
            state = (flags & resetState) != 0;
            memory = (flags & resetMemory) != 0;
            XenError.failIf(forkPad.read(mso, 0) != 0 || (!state && !memory), Errno.EINVAL);
            XenError.failIf((flags & ~(resetState | resetMemory)) != 0, Errno.EINVAL);
        }
        XenError.failIf(d.parent == null, Errno.ENOSYS);
        if (!release.atLeast(4, 16)) {
            domains.liveRemote(d.parent.domid);
        }
        reset(d, state, memory);
    }

    /**
     * {@code mem_sharing_fork_reset(d, reset_state, reset_memory)} of a fork: what the sharing op
     * and, from 4.17, a vm_event response with the RESET_FORK flags ({@code vm_event_resume}) do.
     */
    void reset(SimDomain d, boolean state, boolean memory) {
        lifecycle.pause(d);
        try {
            if (memory) {
                d.p2m.dropPrivatePages();
            }
            if (state) {
                // 4.18+ turns copy_settings' -ERESTART into -EAGAIN; the simulator never restarts.
                copySettings(d, d.parent);
            }
        } finally {
            lifecycle.unpause(d);
        }
    }

    /**
     * A guest touching one page, as an EPT fault would show it to Xen. In a
     * fork, an absent page is populated by {@code mem_sharing_fork_page}: a
     * read shares the first ancestor's page that can be nominated, a write (or
     * a read nothing can be shared for) gives the fork a private copy of the
     * first ancestor's RAM. A write to a shared entry unshares it. Outside a
     * fork only that last case applies.
     *
     * @throws IllegalStateException if the domain is not running (a paused guest does not execute),
     *                               or the page is paged out (its vCPU would wait for the pager)
     * @throws IllegalArgumentException if no page backs {@code gfn}
     */
    void guestAccess(SimDomain d, long gfn, boolean write) {
        if (!d.isRunnable()) {
            throw new IllegalStateException("d" + d.domid + " is paused or dying: it executes nothing");
        }
        requireBacked(d, gfn);
        resolve(d, gfn, write);
    }

    /**
     * Whether a page backs {@code gfn} of {@code d} or can be forked for it: what a guest access or a
     * foreign mapping would find there, short of paging.
     *
     * @throws IllegalStateException if the page is paged out
     * @throws IllegalArgumentException if nothing backs it
     */
    void requireBacked(SimDomain d, long gfn) {
        if (!P2m.inRange(gfn)) {
            throw new IllegalArgumentException("d" + d.domid + " has no page at gfn 0x" + Long.toHexString(gfn));
        }
        if (d.p2m.isPagedOut(gfn)) {
            throw new IllegalStateException("gfn 0x" + Long.toHexString(gfn) + " of d" + d.domid
                    + " is paged out: its vCPU would wait for the pager");
        }
        if (d.p2m.has(gfn)) {
            return;
        }
        if (d.parent == null) {
            throw new IllegalArgumentException("d" + d.domid + " has no page at gfn 0x" + Long.toHexString(gfn));
        }
        if (ancestorWithRam(d, gfn) == null) {
            throw new IllegalArgumentException("no ancestor of fork d" + d.domid + " has RAM at gfn 0x"
                    + Long.toHexString(gfn));
        }
    }

    /**
     * The populating half of {@code p2m_get_gfn_type_access} with {@code P2M_ALLOC}, and with
     * {@code P2M_UNSHARE} when {@code unshare}: a fork's hole is filled by
     * {@code mem_sharing_fork_page}, a shared entry is unshared for a write. False when no page
     * backs {@code gfn} (a hole of a domain that is no fork, or of a fork no ancestor has RAM for).
     */
    boolean resolve(SimDomain d, long gfn, boolean unshare) {
        if (d.p2m.isPrivate(gfn)) {
            return true;
        }
        if (d.p2m.isShared(gfn)) {
            if (unshare) {
                d.p2m.unshare(gfn);
            }
            return true;
        }
        return d.parent != null && forkPage(d, gfn, unshare);
    }

    /**
     * {@code mem_sharing_fork_page}: for a read, a shared entry to the first ancestor's page that can be
     * nominated (a page a dom0 mapping holds cannot, and the search goes on upward, as Xen's does); for a
     * write, or when nothing could be shared, a private copy of the first ancestor's RAM.
     */
    private boolean forkPage(SimDomain d, long gfn, boolean unsharing) {
        if (!unsharing) {
            SimDomain a = sharingAncestor(d, gfn);
            if (a != null) {
                a.p2m.nominate(gfn);
                d.p2m.addShared(gfn, a.p2m.peek(gfn));
                return true;
            }
        }
        SimDomain a = ancestorWithRam(d, gfn);
        if (a == null) {
            return false;
        }
        d.p2m.addPrivateCopy(gfn, a.p2m.peek(gfn));
        return true;
    }

    /**
     * The frame {@code d} would read at {@code gfn}, changing nothing: its own page, else the page a
     * read fault would share or copy (see {@link #forkPage}); null for an untouched zero page.
     *
     * @throws IllegalArgumentException if nothing backs it (see {@link #requireBacked})
     */
    Frame peek(SimDomain d, long gfn) {
        requireBacked(d, gfn);
        if (d.p2m.has(gfn)) {
            return d.p2m.peek(gfn);
        }
        SimDomain a = sharingAncestor(d, gfn);
        return (a != null ? a : ancestorWithRam(d, gfn)).p2m.peek(gfn);
    }

    /** The first ancestor whose page at gfn {@code nominate_page} would share (page_make_sharable fails for a dying one). */
    private static SimDomain sharingAncestor(SimDomain d, long gfn) {
        for (SimDomain a = d.parent; a != null; a = a.parent) {
            if (a.isAlive() && a.p2m.canNominate(gfn)) {
                return a;
            }
        }
        return null;
    }

    /** The first ancestor with RAM at gfn, whose page a fork copies. */
    private static SimDomain ancestorWithRam(SimDomain d, long gfn) {
        for (SimDomain a = d.parent; a != null; a = a.parent) {
            if (a.p2m.has(gfn)) {
                return a;
            }
        }
        return null;
    }
}
