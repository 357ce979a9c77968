package org.xenfork.vmi;

import java.util.ArrayList;
import java.util.List;
import org.xenfork.privcmd.Domid;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * A domain's guest-physical memory through foreign mappings: each read or write maps the frames it
 * touches ({@link ForeignMemory#map}, up to {@link ForeignMemory#MAX_PAGES} per mapping), checks every
 * frame, copies, and unmaps them before it returns, so nothing stays mapped between calls.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get())) {
 *     PhysicalMemory guest = new MappedPhysicalMemory(new ForeignMemory(privcmd), 5);
 *     byte[] header = new byte[64];
 *     guest.read(0x100000, header, 0, header.length);           // crosses pages as it must
 *     guest.write(0x100000, new byte[] {(byte) 0xcc}, 0, 1);    // a fork gets its own copy of the page
 * }
 * }</pre>
 *
 * <p>The rules:
 * <ul>
 * <li>A read maps read-only; a write maps writable, which in Xen gives a fork its own copy of each
 *     touched page and unshares a shared one (the parent's bytes never change). A read of a fork's page
 *     it has not got yet shares its parent's page with it, as a guest read would.</li>
 * <li>Every frame is checked before any byte moves, so a write either writes all its bytes or none
 *     (the touched pages may have been copied for the fork all the same, as the mapping did that).
 *     A refused frame is a {@link GuestFrameException} naming the first address in it, its gfn and the
 *     errno in words; a mapping refused as a whole (EPERM on a restricted fd, ENOMEM) a
 *     {@link GuestMemoryException} with the cause.</li>
 * <li>At most {@link #MAX_BYTES} per call, below 2^52 (x86-64's physical address space).</li>
 * </ul>
 * Not thread-safe (it uses the {@link ForeignMemory}'s privcmd buffers).
 */
public final class MappedPhysicalMemory implements PhysicalMemory {
    /** Bytes one read or write may move: 16 MiB, four mappings at most, all held at once. */
    public static final int MAX_BYTES = 16 << 20;
    /** The end of x86-64's 52-bit guest-physical address space. */
    public static final long ADDRESS_LIMIT = (ForeignMemory.MAX_GFN + 1) * Linux.PAGE_SIZE;

    private final ForeignMemory foreign;
    private final int domid;

    /**
     * The memory of domain {@code domid}, reached through {@code foreign}.
     *
     * @throws IllegalArgumentException for domain 0 (this one) or an id outside 1..0x7fef
     */
    public MappedPhysicalMemory(ForeignMemory foreign, int domid) {
        if (foreign == null) {
            throw new IllegalArgumentException("no foreign memory");
        }
        if (domid <= 0 || domid >= Domid.FIRST_RESERVED) {
            throw new IllegalArgumentException("domain " + domid + ": guest memory is that of a domain 1 to "
                    + (Domid.FIRST_RESERVED - 1) + " other than the control domain this runs in");
        }
        this.foreign = foreign;
        this.domid = domid;
    }

    public int domid() {
        return domid;
    }

    @Override
    public void read(long address, byte[] dst, int offset, int length) throws GuestMemoryException {
        access(address, dst, offset, length, false);
    }

    @Override
    public void write(long address, byte[] src, int offset, int length) throws GuestMemoryException {
        access(address, src, offset, length, true);
    }

    private void access(long address, byte[] buffer, int offset, int length, boolean write)
            throws GuestMemoryException {
        String what = write ? "writing" : "reading";
        check(address, buffer, offset, length, what);
        if (length == 0) {
            return;
        }
        long firstGfn = address / Linux.PAGE_SIZE;
        long lastGfn = (address + length - 1) / Linux.PAGE_SIZE;
        int prot = write ? Linux.PROT_READ | Linux.PROT_WRITE : Linux.PROT_READ;
        List<ForeignMapping> mappings = new ArrayList<>();
        try {
            for (long gfn = firstGfn; gfn <= lastGfn; gfn += ForeignMemory.MAX_PAGES) {
                long[] gfns = new long[(int) Math.min(ForeignMemory.MAX_PAGES, lastGfn - gfn + 1)];
                for (int i = 0; i < gfns.length; i++) {
                    gfns[i] = gfn + i;
                }
                ForeignMapping m = foreign.map(domid, prot, gfns);
                mappings.add(m);
                int bad = m.firstUnmappedPage();
                if (bad >= 0) {
                    long refused = gfns[bad];
                    throw new GuestFrameException(what, domid, Math.max(address, refused * Linux.PAGE_SIZE), refused,
                            m.frameError(bad));
                }
            }
            for (ForeignMapping m : mappings) {
                long start = Math.max(address, m.gfn(0) * Linux.PAGE_SIZE);
                long end = Math.min(address + length, (m.gfn(0) + m.pages()) * Linux.PAGE_SIZE);
                long inMapping = start - m.gfn(0) * Linux.PAGE_SIZE;
                int at = offset + (int) (start - address);
                if (write) {
                    m.write(inMapping, buffer, at, (int) (end - start));
                } else {
                    m.read(inMapping, buffer, at, (int) (end - start));
                }
            }
        } catch (NativeException e) {
            throw new GuestMemoryException(what + " " + length + " bytes at guest-physical 0x"
                    + Long.toHexString(address) + " of domain " + domid + ": " + e.getMessage(), e);
        } finally {
            for (ForeignMapping m : mappings) {
                m.close();
            }
        }
    }

    private static void check(long address, byte[] buffer, int offset, int length, String what) {
        if (buffer == null) {
            throw new IllegalArgumentException(what + ": no buffer");
        }
        if (offset < 0 || length < 0 || offset > buffer.length - length) {
            throw new IndexOutOfBoundsException(what + " " + length + " bytes at index " + offset + " of a "
                    + buffer.length + "-byte array");
        }
        if (length > MAX_BYTES) {
            throw new IllegalArgumentException(what + " " + length + " bytes in one call: at most " + MAX_BYTES
                    + " (" + (MAX_BYTES >> 20) + " MiB); split the range");
        }
        if (address < 0 || address > ADDRESS_LIMIT - length) {
            throw new IllegalArgumentException(what + " " + length + " bytes at guest-physical 0x"
                    + Long.toHexString(address) + ": guest-physical addresses are 0 to 0x"
                    + Long.toHexString(ADDRESS_LIMIT - 1) + " (52 bits)");
        }
    }
}
