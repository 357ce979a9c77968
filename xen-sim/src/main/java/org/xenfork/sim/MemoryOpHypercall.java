package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_memory_op} (12). Only XENMEM_sharing_op is modelled, and
 * only in a build with {@code CONFIG_MEM_SHARING}: without it, as for every
 * other memory_op command here, the answer is ENOSYS (x86_64/mm.c's default).
 */
final class MemoryOpHypercall {
    /** xen/include/xen/hypercall.h: {@code cmd[:6]} is a continuation's start extent. */
    static final int MEMOP_EXTENT_SHIFT = 6;
    static final long MEMOP_CMD_MASK = (1L << MEMOP_EXTENT_SHIFT) - 1;

    private final Host host;
    private final MemSharing memSharing;
    private final long sharingOp;

    MemoryOpHypercall(Abi abi, Host host, MemSharing memSharing) {
        this.host = host;
        this.memSharing = memSharing;
        this.sharingOp = abi.constant("XENMEM_sharing_op");
    }

    long call(GuestMemory mem, long cmd, long arg) {
        if ((cmd & MEMOP_CMD_MASK) == sharingOp && host.memSharing()) {
            return memSharing.memop(mem, arg);
        }
        return -Errno.ENOSYS;
    }
}
