package org.xenfork.vmi;

import org.xenfork.abi.Abi;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;

/** A paused fork of a simulated guest, made and reset with privcmd's typed hypercalls, as the fork workflow does. */
final class ForkedGuest {
    private final Hypervisor xen;
    private final int domid;

    private ForkedGuest(Hypervisor xen, int domid) {
        this.xen = xen;
        this.domid = domid;
    }

    static ForkedGuest of(SimXen sim, NativeSeam seam, SimDomain parent) {
        Hypervisor xen = Hypervisor.open(Privcmd.open(seam), sim.release(), null, false);
        Abi abi = xen.abi();
        DomainInfo p = xen.domainInfo(parent.domid());
        long flags = abi.constant("XEN_DOMCTL_CDF_hvm") | abi.constant("XEN_DOMCTL_CDF_hap");
        int child = xen.createDomain(0, new DomainConfig(0, null, flags, 0, p.maxVcpus(), 1023, 32, 1024,
                grantOpts(abi), 0, 0, p.emulationFlags(), 0));
        xen.setMaxVcpus(child, p.maxVcpus());
        xen.fork(parent.domid(), child, 0);
        return new ForkedGuest(xen, child);
    }

    /** Grant table version 2 where createdomain has grant_opts (ignored where it has not). */
    private static int grantOpts(Abi abi) {
        return abi.struct("xen_domctl_createdomain").field("grant_opts").isPresent() ? 2 : 0;
    }

    int domid() {
        return domid;
    }

    /** fork_reset of memory and state. */
    void reset() {
        Abi abi = xen.abi();
        int flags = abi.findConstant("XENMEM_FORK_RESET_STATE").isPresent()
                ? (int) (abi.constant("XENMEM_FORK_RESET_STATE") | abi.constant("XENMEM_FORK_RESET_MEMORY")) : 0;
        xen.forkReset(domid, flags);
    }
}
