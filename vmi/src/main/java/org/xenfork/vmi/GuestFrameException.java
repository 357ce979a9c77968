package org.xenfork.vmi;

import org.xenfork.privcmd.ForeignMapping;

/**
 * A guest frame Xen would not map: the first guest-physical address that could not be reached,
 * its frame number and the errno, with what it means and what to do
 * ({@link ForeignMapping#describeFrameError}):
 * {@code reading guest-physical 0x40000 of domain 5 (gfn 0x40): EINVAL (22): not RAM of the domain …}.
 */
public final class GuestFrameException extends GuestMemoryException {
    private static final long serialVersionUID = 1L;

    private final int domid;
    private final long address;
    private final long gfn;
    private final int errno;

    GuestFrameException(String access, int domid, long address, long gfn, int errno) {
        super(access + " guest-physical 0x" + Long.toHexString(address) + " of domain " + domid + " (gfn 0x"
                + Long.toHexString(gfn) + "): " + ForeignMapping.describeFrameError(errno));
        this.domid = domid;
        this.address = address;
        this.gfn = gfn;
        this.errno = errno;
    }

    public int domid() {
        return domid;
    }

    /** The first guest-physical address of the access that lies in the refused frame. */
    public long address() {
        return address;
    }

    public long gfn() {
        return gfn;
    }

    /** The errno Xen or Linux gave for the frame (ENOENT paged out, EINVAL not RAM, ESRCH no domain, …). */
    public int errno() {
        return errno;
    }
}
