package org.xenfork.vmi;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A domain's memory as a debugger sees it: bytes at guest-physical addresses (through a
 * {@link PhysicalMemory}) and at guest-virtual addresses, translated through one vCPU's page
 * tables ({@link PageWalker}).
 *
 * <pre>{@code
 * GuestMemory mem = new GuestMemory(physical);               // physical: the domain's frames
 * PagingRegisters cpu = PagingRegisters.of(hvmContext, 0);   // vCPU 0's CR0, CR3, CR4, EFER
 * byte[] code = mem.readVirtual(cpu, 0xffffffff81000000L, 64);
 * mem.writeVirtual(cpu, inputAddress, input, 0, input.length);
 * }</pre>
 *
 * A virtual range is translated page by page (a large page is one page), all of it before the
 * first byte moves: a range that runs into an address the vCPU cannot translate fails with a
 * {@link PageWalkException} naming that page's first address, and nothing was read or
 * written. Once translated, the bytes move a page at a time in order; if the physical memory
 * then refuses one (a frame Xen will not map), the pages before it were already read or
 * written: a write says how many bytes it wrote. The registers are a snapshot: on a running
 * domain its tables may change under the walk; pause it for a consistent view.
 *
 * <p>Does not own {@code physical}: closing it is the caller's.
 */
public final class GuestMemory {
    private final PhysicalMemory physical;
    private final PageWalker walker;

    /** Guest memory whose vCPUs' MAXPHYADDR is taken as 52 bits ({@link PageWalker#MAX_PHYS_ADDR}). */
    public GuestMemory(PhysicalMemory physical) {
        this(physical, PageWalker.MAX_PHYS_ADDR);
    }

    /** Guest memory whose vCPUs report {@code maxPhysAddr} physical address bits (CPUID 0x80000008). */
    public GuestMemory(PhysicalMemory physical, int maxPhysAddr) {
        this.physical = Objects.requireNonNull(physical, "physical");
        this.walker = new PageWalker(physical, maxPhysAddr);
    }

    /** Copies {@code length} bytes at guest-physical {@code address} into {@code dst}. */
    public void readPhysical(long address, byte[] dst, int offset, int length) throws GuestMemoryException {
        Objects.checkFromIndexSize(offset, length, dst.length);
        physical.read(address, dst, offset, length);
    }

    /** The {@code length} bytes at guest-physical {@code address}. */
    public byte[] readPhysical(long address, int length) throws GuestMemoryException {
        byte[] out = new byte[checkLength(length)];
        physical.read(address, out, 0, length);
        return out;
    }

    /** Copies {@code length} bytes of {@code src} to guest-physical {@code address}. */
    public void writePhysical(long address, byte[] src, int offset, int length) throws GuestMemoryException {
        Objects.checkFromIndexSize(offset, length, src.length);
        physical.write(address, src, offset, length);
    }

    /** Translates guest-virtual {@code address} through {@code cpu}'s page tables; nothing in the guest changes. */
    public Translation translate(PagingRegisters cpu, long address) throws PageWalkException {
        return walker.translate(cpu, address);
    }

    /** Copies {@code length} bytes at guest-virtual {@code address} of vCPU {@code cpu} into {@code dst}. */
    public void readVirtual(PagingRegisters cpu, long address, byte[] dst, int offset, int length)
            throws GuestMemoryException {
        Objects.checkFromIndexSize(offset, length, dst.length);
        for (Piece p : pieces(cpu, address, length)) {
            try {
                physical.read(p.physical, dst, offset + p.at, p.length);
            } catch (GuestMemoryException e) {
                throw new GuestMemoryException("reading guest-virtual " + PagingRegisters.hex(p.virtual)
                        + " (guest-physical " + PagingRegisters.hex(p.physical) + "): " + e.getMessage(), e);
            }
        }
    }

    /** The {@code length} bytes at guest-virtual {@code address} of vCPU {@code cpu}. */
    public byte[] readVirtual(PagingRegisters cpu, long address, int length) throws GuestMemoryException {
        byte[] out = new byte[checkLength(length)];
        readVirtual(cpu, address, out, 0, length);
        return out;
    }

    /**
     * Copies {@code length} bytes of {@code src} to guest-virtual {@code address} of vCPU
     * {@code cpu}. Every page is translated first; a page that does not translate fails the
     * call before any byte is written. A page the physical memory then refuses fails it with
     * the bytes before that page written, and the message says how many.
     */
    public void writeVirtual(PagingRegisters cpu, long address, byte[] src, int offset, int length)
            throws GuestMemoryException {
        Objects.checkFromIndexSize(offset, length, src.length);
        for (Piece p : pieces(cpu, address, length)) {
            try {
                physical.write(p.physical, src, offset + p.at, p.length);
            } catch (GuestMemoryException e) {
                throw new GuestMemoryException("writing guest-virtual " + PagingRegisters.hex(p.virtual)
                        + " (guest-physical " + PagingRegisters.hex(p.physical) + "): " + e.getMessage() + "; "
                        + (p.at == 0 ? "nothing was written"
                                : "the first " + p.at + " of the " + length + " bytes (guest-virtual "
                                        + PagingRegisters.hex(address) + " to " + PagingRegisters.hex(p.virtual - 1)
                                        + ") were written"), e);
            }
        }
    }

    /** One page's part of a virtual range: where it starts, its physical address, its place in the caller's bytes. */
    private record Piece(long virtual, long physical, int at, int length) {
    }

    /** Translates every page of the range, first to last, before anything is read or written. */
    private List<Piece> pieces(PagingRegisters cpu, long address, int length) throws GuestMemoryException {
        if (length > 0 && Long.compareUnsigned(address + length - 1, address) < 0) {
            throw new GuestMemoryException("guest-virtual " + PagingRegisters.hex(address) + " + " + length
                    + " bytes runs past the end of the address space (0xffffffffffffffff); read or write it as two ranges");
        }
        List<Piece> pieces = new ArrayList<>();
        int done = 0;
        while (done < length) {
            long at = address + done;
            Translation t = walker.translate(cpu, at);
            long leftInPage = t.pageSize() - (at & (t.pageSize() - 1));
            int n = (int) Math.min(leftInPage, length - done);
            pieces.add(new Piece(at, t.physicalAddress(), done, n));
            done += n;
        }
        return pieces;
    }

    private static int checkLength(int length) {
        if (length < 0) {
            throw new IllegalArgumentException("length " + length + " is negative");
        }
        return length;
    }
}
