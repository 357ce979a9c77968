package org.xenfork.sim;

import java.util.ArrayList;
import java.util.List;

import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_mmu_update} as a PV dom0's Linux issues it to map another domain's frames
 * ({@code xen_remap_pfn}, arch/x86/xen/mmu_pv.c): {@code MMU_NORMAL_PT_UPDATE} requests that each
 * write one l1 entry of dom0's page tables with a frame of {@code foreigndom}. Modelled after
 * {@code do_mmu_update} and {@code mod_l1_entry} in xen/arch/x86/mm.c (the same from 4.14 to 4.22):
 * <ul>
 * <li>{@code get_pg_owner}: ESRCH for the caller itself and for an unknown domain, before any
 *     request (a dying domain is found: {@code rcu_lock_domain_by_any_id}).</li>
 * <li>The requests run in order until one fails; the call returns that one's error and, through
 *     {@code pdone}, how many were done before it.</li>
 * <li>{@code mod_l1_entry} translates the gfn of an HVM or PVH domain with {@code get_page_from_gfn}:
 *     {@code P2M_ALLOC}, and {@code P2M_UNSHARE} too for a writable entry ({@code _PAGE_RW}).
 *     A paged-out page: the pager is asked for it ({@code p2m_mem_paging_populate}) and the entry
 *     fails with ENOENT. A fork's hole is filled by {@code mem_sharing_fork_page} (shared for a
 *     read-only entry, a private copy for a writable one); a shared page is unshared for a writable
 *     one. No page (beyond the domain's memory, a hole, a dying domain's relinquished memory): EINVAL.
 *     The page then holds a reference for as long as the entry exists.</li>
 * </ul>
 * A failed unshare's ENOMEM and XSM's EPERM are not produced by the model; inject them
 * ({@link SimXen#injectFault}, {@code SimCall.named("mmu_update")}). The requests themselves are not
 * read from memory: Linux builds them in kernel memory the simulator does not have, so they arrive
 * as {@link Request}s.
 */
final class MmuUpdate {

    /** One {@code MMU_NORMAL_PT_UPDATE}: an l1 entry mapping frame {@code gfn}, writable or not. */
    record Request(long gfn, boolean writable) {
    }

    /** The hypercall's result, the requests done before it returned, and their frames in order. */
    record Result(long rc, int done, List<Frame> frames) {
    }

    private final DomainTable domains;
    private final MemSharing memSharing;

    MmuUpdate(DomainTable domains, MemSharing memSharing) {
        this.domains = domains;
        this.memSharing = memSharing;
    }

    Result call(int foreigndom, List<Request> requests) {
        SimDomain owner = domains.byId(foreigndom);
        if (owner == null || owner == domains.caller()) {
            return new Result(-Errno.ESRCH, 0, List.of());
        }
        List<Frame> frames = new ArrayList<>();
        for (Request r : requests) {
            try {
                frames.add(mapOne(owner, r));
            } catch (XenError e) {
                return new Result(-e.errno(), frames.size(), frames);
            }
        }
        return new Result(0, frames.size(), frames);
    }

    /** {@code mod_l1_entry} for one present entry of a foreign frame. */
    private Frame mapOne(SimDomain owner, Request r) {
        if (!owner.hvm) {
            // No translation for a PV guest: the number would be a machine frame, which is not modelled.
            throw new UnsupportedOperationException("foreign mappings of a PV guest's machine frames are not simulated");
        }
        long gfn = r.gfn();
        XenError.failIf(!P2m.inRange(gfn), Errno.EINVAL);
        if (owner.p2m.isPagedOut(gfn)) {
            owner.p2m.pagingRequest(gfn);
            throw new XenError(Errno.ENOENT);
        }
        XenError.failIf(!memSharing.resolve(owner, gfn, r.writable()), Errno.EINVAL);
        Frame f = owner.p2m.frame(gfn);
        f.mapped();
        return f;
    }
}
