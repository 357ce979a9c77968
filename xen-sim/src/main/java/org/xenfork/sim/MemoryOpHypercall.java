package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_memory_op} (12): XENMEM_sharing_op, only in a build with
 * {@code CONFIG_MEM_SHARING} (without it ENOSYS), and the two reservation ops a monitor makes
 * for its ring page, XENMEM_populate_physmap and XENMEM_decrease_reservation
 * ({@code do_memory_op}, {@code populate_physmap}, {@code decrease_reservation} in
 * xen/common/memory.c), for order-0 extents. Every other command is ENOSYS (x86_64/mm.c's default).
 */
final class MemoryOpHypercall {
    /** xen/include/xen/hypercall.h: {@code cmd[:6]} is a continuation's start extent. */
    static final int MEMOP_EXTENT_SHIFT = 6;
    static final long MEMOP_CMD_MASK = (1L << MEMOP_EXTENT_SHIFT) - 1;

    private final Host host;
    private final MemSharing memSharing;
    private final DomainTable domains;
    private final long sharingOp;
    private final long populatePhysmap;
    private final long decreaseReservation;
    private final int reservationSize;
    private final Leaf extentStart, nrExtents, extentOrder, domid;

    MemoryOpHypercall(Abi abi, Host host, MemSharing memSharing, DomainTable domains) {
        this.host = host;
        this.memSharing = memSharing;
        this.domains = domains;
        this.sharingOp = abi.constant("XENMEM_sharing_op");
        this.populatePhysmap = abi.constant("XENMEM_populate_physmap");
        this.decreaseReservation = abi.constant("XENMEM_decrease_reservation");
        StructLayout r = abi.struct("xen_memory_reservation");
        this.reservationSize = r.size();
        this.extentStart = r.leaf("extent_start");
        this.nrExtents = r.leaf("nr_extents");
        this.extentOrder = r.leaf("extent_order");
        this.domid = r.leaf("domid");
    }

    long call(GuestMemory mem, long cmd, long arg) {
        long op = cmd & MEMOP_CMD_MASK;
        if (op == sharingOp && host.memSharing()) {
            return memSharing.memop(mem, arg);
        }
        if (op == populatePhysmap || op == decreaseReservation) {
            return reservation(mem, op, cmd >>> MEMOP_EXTENT_SHIFT, arg);
        }
        return -Errno.ENOSYS;
    }

    /**
     * The extents from {@code start} on, one gfn each from {@code extent_start}: the number done
     * (an extent Xen cannot do ends the loop: decrease_reservation of a gfn with no page,
     * {@code guest_remove_page}'s ENOENT). EFAULT for the struct, ESRCH for the domain; orders above
     * 0 are not modelled (ENOSYS). The domain's {@code max_pages} is not enforced here.
     */
    private long reservation(GuestMemory mem, long op, long start, long arg) {
        byte[] r = mem.copyFromGuest(arg, reservationSize);
        long n = nrExtents.read(r, 0);
        if (start >= n) {
            return start;
        }
        SimDomain d = domains.byId(domid.read(r, 0));
        XenError.failIf(d == null || !d.isAlive(), Errno.ESRCH);
        XenError.failIf(extentOrder.read(r, 0) != 0, Errno.ENOSYS);
        long array = extentStart.read(r, 0);
        long done = start;
        for (; done < n; done++) {
            byte[] e = mem.copyFromGuest(array + 8 * done, 8);
            long gfn = java.nio.ByteBuffer.wrap(e).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            if (!P2m.inRange(gfn)) {
                break;
            }
            if (op == populatePhysmap) {
                d.p2m.add(gfn);
            } else {
                if (!d.p2m.has(gfn) && !d.p2m.isPagedOut(gfn)) {
                    break;
                }
                d.p2m.remove(gfn);
            }
        }
        return done;
    }
}
