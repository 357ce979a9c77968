package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_hvm_op} (34): only {@code HVMOP_get_param} ({@code hvmop_get_param} in
 * xen/arch/x86/hvm/hvm.c). Order of checks as in Xen: copy the {@code xen_hvm_param} in (EFAULT),
 * an index at or past {@code HVM_NR_PARAMS} (EINVAL), the domain (ESRCH), not an HVM/PVH domain
 * (EINVAL); then the value is copied back. The simulator holds one parameter,
 * {@code HVM_PARAM_MONITOR_RING_PFN}; every other reads 0. Other HVMOPs are ENOSYS here.
 */
final class HvmOpHypercall {
    private final DomainTable domains;
    private final long getParam;
    private final long monitorRingPfn;
    private final int size;
    private final Leaf domid, index, value;

    HvmOpHypercall(Abi abi, DomainTable domains) {
        this.domains = domains;
        this.getParam = abi.constant("HVMOP_get_param");
        this.monitorRingPfn = abi.constant("HVM_PARAM_MONITOR_RING_PFN");
        StructLayout s = abi.struct("xen_hvm_param");
        this.size = s.size();
        this.domid = s.leaf("domid");
        this.index = s.leaf("index");
        this.value = s.leaf("value");
    }

    long call(GuestMemory mem, long op, long arg) {
        if (op != getParam) {
            return -Errno.ENOSYS;
        }
        byte[] a = mem.copyFromGuest(arg, size);
        long i = index.read(a, 0);
        XenError.failIf(i >= VmEventMonitor.HVM_NR_PARAMS, Errno.EINVAL);
        SimDomain d = domains.byId(domid.read(a, 0));
        XenError.failIf(d == null, Errno.ESRCH);
        XenError.failIf(!d.hvm, Errno.EINVAL);
        value.write(a, 0, i == monitorRingPfn ? d.monitorRingGfn : 0);
        mem.copyToGuest(arg, a);
        return 0;
    }
}
