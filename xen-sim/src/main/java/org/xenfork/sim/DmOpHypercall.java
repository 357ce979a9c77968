package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_dm_op(domid, nr_bufs, bufs)} (41): {@code do_dm_op} and {@code dm_op} in
 * xen/arch/x86/hvm/dm.c, for {@code XEN_DMOP_inject_event} only. Checks in Xen's order: more than
 * two buffers (E2BIG), the buffer array (EFAULT), the domain (ESRCH; the caller's own: EPERM), not
 * HVM (EINVAL), a first buffer too short for the op (EFAULT), an op past the table (EOPNOTSUPP),
 * a non-zero {@code pad} (EINVAL); then {@code inject_event}: non-zero pads or a vCPU the domain
 * lacks (EINVAL), an event already queued on that vCPU (EBUSY). Other DMOPs are not modelled (ENOSYS).
 */
final class DmOpHypercall {
    private static final int MAX_BUFS = 2; // struct dmop_args.buf[2]
    private final DomainTable domains;
    private final long injectEvent;
    private final int bufSize;
    private final Leaf bufH, bufLen;
    private final int opSize;
    private final Leaf op, pad, vcpuid, vector, type, insnLen, pad0, pad1, cr2;

    DmOpHypercall(Abi abi, DomainTable domains) {
        this.domains = domains;
        this.injectEvent = abi.constant("XEN_DMOP_inject_event");
        StructLayout b = abi.struct("xen_dm_op_buf");
        this.bufSize = b.size();
        this.bufH = b.leaf("h");
        this.bufLen = b.leaf("size");
        StructLayout o = abi.struct("xen_dm_op");
        this.opSize = o.size();
        this.op = o.leaf("op");
        this.pad = o.leaf("pad");
        this.vcpuid = o.leaf("u.inject_event.vcpuid");
        this.vector = o.leaf("u.inject_event.vector");
        this.type = o.leaf("u.inject_event.type");
        this.insnLen = o.leaf("u.inject_event.insn_len");
        this.pad0 = o.leaf("u.inject_event.pad0");
        this.pad1 = o.leaf("u.inject_event.pad1");
        this.cr2 = o.leaf("u.inject_event.cr2");
    }

    long call(GuestMemory mem, long domid, long nrBufs, long bufs) {
        XenError.failIf(nrBufs > MAX_BUFS, Errno.E2BIG);
        byte[] buf0 = mem.copyFromGuest(bufs, bufSize);
        SimDomain d = domains.byId(domid);
        XenError.failIf(d == null, Errno.ESRCH);
        XenError.failIf(d == domains.caller(), Errno.EPERM);
        XenError.failIf(!d.hvm, Errno.EINVAL);
        XenError.failIf(nrBufs < 1 || bufLen.read(buf0, 0) < opSize, Errno.EFAULT);
        byte[] o = mem.copyFromGuest(bufH.read(buf0, 0), opSize);
        long what = op.read(o, 0);
        XenError.failIf(what != injectEvent, Errno.ENOSYS);
        XenError.failIf(pad.read(o, 0) != 0, Errno.EINVAL);
        XenError.failIf(pad0.read(o, 0) != 0 || pad1.read(o, 0) != 0, Errno.EINVAL);
        long v = vcpuid.read(o, 0);
        XenError.failIf(v >= d.allocatedVcpus, Errno.EINVAL);
        XenError.failIf(d.pendingInjection.containsKey((int) v), Errno.EBUSY);
        d.pendingInjection.put((int) v, new long[] {vector.read(o, 0), type.read(o, 0), insnLen.read(o, 0),
                cr2.read(o, 0)});
        return 0;
    }
}
