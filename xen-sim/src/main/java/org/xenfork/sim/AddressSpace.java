package org.xenfork.sim;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;

/**
 * The simulated process's address space: page-granular mappings, each backed by
 * a {@code byte[]}, handed out upward from {@link #BASE} and never reused, so a
 * use after munmap hits unmapped memory instead of a newer buffer.
 *
 * <p>It is reached two ways. The process itself ({@link #read}/{@link #write})
 * gets an {@link IllegalStateException} for an unmapped or protection-violating
 * access: that is a SIGSEGV in real life. The hypervisor ({@link GuestMemory})
 * gets {@code EFAULT}, as Xen's {@code copy_from_guest}/{@code copy_to_guest} do.
 *
 * <p>Pages of an anonymous mapping are not present until the process
 * writes them or the mapping is {@code MAP_LOCKED} (the kernel then populates
 * it). Xen cannot fault a page in on dom0's behalf, so a hypercall touching a
 * not-present page gets {@code EFAULT}: the reason libxencall's fallback
 * allocator uses {@code MAP_LOCKED} and writes one byte into every page.
 * Pages of {@code /dev/xen/hypercall} mappings are allocated by privcmd-buf at
 * mmap time and are always present.
 */
final class AddressSpace implements GuestMemory {

    /** Where mappings start: the usual top-of-user-space area on x86-64 Linux. */
    static final long BASE = 0x7f00_0000_0000L;
    /** One mapping at most (a simulator guard, not a Linux limit). */
    static final long MAX_MAPPING = 256L << 20;

    private static final class Mapping {
        final long start;
        final byte[] data;
        final int prot;
        final BitSet present;

        Mapping(long start, int length, int prot, boolean populated) {
            this.start = start;
            this.data = new byte[length];
            this.prot = prot;
            this.present = new BitSet(length / Linux.PAGE_SIZE);
            if (populated) {
                present.set(0, length / Linux.PAGE_SIZE);
            }
        }

        long end() {
            return start + data.length;
        }
    }

    /** One piece of an access that falls inside one mapping. */
    private record Piece(Mapping mapping, int offset, int length, int bufferOffset) {
    }

    private final TreeMap<Long, Mapping> mappings = new TreeMap<>();
    private long next = BASE;

    /**
     * Maps {@code length} bytes (already page-rounded, ≤ {@link #MAX_MAPPING})
     * and returns the address; {@code populated} pages are present at once.
     */
    synchronized long map(long length, int prot, boolean populated) {
        long address = next;
        mappings.put(address, new Mapping(address, (int) length, prot, populated));
        // One unmapped guard page between mappings, like the gaps a real
        // process has: an overrun does not land in the next buffer.
        next = address + length + Linux.PAGE_SIZE;
        return address;
    }

    /**
     * Removes the mapping that starts at {@code address} and is {@code length}
     * bytes long (rounded up to pages). Anything else (unaligned, unmapped, a
     * part of a mapping) is refused with {@code false}: the simulator is
     * stricter than Linux, which unmaps holes silently, so that a double free
     * or a wrong length in privcmd's buffer code shows up.
     */
    synchronized boolean unmap(long address, long length) {
        Mapping m = mappings.get(address);
        if (m == null || length <= 0 || roundUpToPage(length) != m.data.length) {
            return false;
        }
        mappings.remove(address);
        return true;
    }

    /** Whether [address, address+length) is page-aligned and fully mapped. */
    synchronized boolean isMapped(long address, long length) {
        if (address % Linux.PAGE_SIZE != 0 || length <= 0) {
            return false;
        }
        return pieces(address, length) != null;
    }

    synchronized int mappingCount() {
        return mappings.size();
    }

    /** The process reads its own memory: unmapped or unreadable is a segfault. */
    synchronized void read(long address, byte[] dst, int dstOffset, int length) {
        checkBuffer(dst, dstOffset, length);
        for (Piece p : processAccess(address, length, Linux.PROT_READ, "read")) {
            System.arraycopy(p.mapping.data, p.offset, dst, dstOffset + p.bufferOffset, p.length);
        }
    }

    /** The process writes its own memory: unmapped or read-only is a segfault; the pages become present. */
    synchronized void write(long address, byte[] src, int srcOffset, int length) {
        checkBuffer(src, srcOffset, length);
        for (Piece p : processAccess(address, length, Linux.PROT_WRITE, "write")) {
            System.arraycopy(src, srcOffset + p.bufferOffset, p.mapping.data, p.offset, p.length);
            p.mapping.present.set(p.offset / Linux.PAGE_SIZE, (p.offset + p.length - 1) / Linux.PAGE_SIZE + 1);
        }
    }

    /**
     * The kernel's {@code copy_from_user}: unlike Xen it can fault pages in,
     * so mapped and readable is enough. Null when it would fail (EFAULT).
     */
    synchronized byte[] copyFromUser(long address, int length) {
        List<Piece> pieces = pieces(address, length);
        if (pieces == null || pieces.stream().anyMatch(p -> (p.mapping.prot & Linux.PROT_READ) == 0)) {
            return null;
        }
        byte[] out = new byte[length];
        for (Piece p : pieces) {
            System.arraycopy(p.mapping.data, p.offset, out, p.bufferOffset, p.length);
            p.mapping.present.set(p.offset / Linux.PAGE_SIZE, (p.offset + p.length - 1) / Linux.PAGE_SIZE + 1);
        }
        return out;
    }

    /**
     * The kernel's {@code copy_to_user}: like {@link #copyFromUser}, mapped and writable is enough
     * (the pages become present). False when it would fail (EFAULT), with nothing written.
     */
    synchronized boolean copyToUser(long address, byte[] bytes) {
        List<Piece> pieces = pieces(address, bytes.length);
        if (pieces == null || pieces.stream().anyMatch(p -> (p.mapping.prot & Linux.PROT_WRITE) == 0)) {
            return false;
        }
        for (Piece p : pieces) {
            System.arraycopy(bytes, p.bufferOffset, p.mapping.data, p.offset, p.length);
            p.mapping.present.set(p.offset / Linux.PAGE_SIZE, (p.offset + p.length - 1) / Linux.PAGE_SIZE + 1);
        }
        return true;
    }

    @Override
    public synchronized byte[] copyFromGuest(long address, int length) {
        byte[] out = new byte[length];
        for (Piece p : hypervisorAccess(address, length, Linux.PROT_READ)) {
            System.arraycopy(p.mapping.data, p.offset, out, p.bufferOffset, p.length);
        }
        return out;
    }

    @Override
    public synchronized void copyToGuest(long address, byte[] bytes) {
        for (Piece p : hypervisorAccess(address, bytes.length, Linux.PROT_WRITE)) {
            System.arraycopy(bytes, p.bufferOffset, p.mapping.data, p.offset, p.length);
        }
    }

    private List<Piece> processAccess(long address, int length, int needed, String what) {
        List<Piece> pieces = pieces(address, length);
        if (pieces == null) {
            throw new IllegalStateException("segmentation fault: " + what + " of " + length + " bytes at 0x"
                    + Long.toHexString(address) + " touches unmapped memory");
        }
        for (Piece p : pieces) {
            if ((p.mapping.prot & needed) == 0) {
                throw new IllegalStateException("segmentation fault: " + what + " at 0x"
                        + Long.toHexString(p.mapping.start + p.offset) + " violates the mapping's protection");
            }
        }
        return pieces;
    }

    private List<Piece> hypervisorAccess(long address, int length, int needed) {
        List<Piece> pieces = pieces(address, length);
        XenError.failIf(pieces == null, Errno.EFAULT);
        for (Piece p : pieces) {
            XenError.failIf((p.mapping.prot & needed) == 0, Errno.EFAULT);
            int first = p.offset / Linux.PAGE_SIZE;
            int last = (p.offset + p.length - 1) / Linux.PAGE_SIZE;
            XenError.failIf(p.mapping.present.nextClearBit(first) <= last, Errno.EFAULT);
        }
        return pieces;
    }

    /** The mappings an access crosses, or null if any byte of it is unmapped. A NULL page is never mapped. */
    private List<Piece> pieces(long address, long length) {
        List<Piece> out = new ArrayList<>();
        if (length == 0) {
            return out;
        }
        long cursor = address;
        long end = address + length;
        if (address <= 0 || end < address) {
            return null;
        }
        while (cursor < end) {
            Map.Entry<Long, Mapping> e = mappings.floorEntry(cursor);
            if (e == null || e.getValue().end() <= cursor) {
                return null;
            }
            Mapping m = e.getValue();
            int offset = (int) (cursor - m.start);
            int n = (int) Math.min(end - cursor, m.data.length - offset);
            out.add(new Piece(m, offset, n, (int) (cursor - address)));
            cursor += n;
        }
        return out;
    }

    static long roundUpToPage(long length) {
        return (length + Linux.PAGE_SIZE - 1) & -(long) Linux.PAGE_SIZE;
    }

    private static void checkBuffer(byte[] buffer, int offset, int length) {
        if (offset < 0 || length < 0 || offset + length > buffer.length) {
            throw new IndexOutOfBoundsException("buffer of " + buffer.length + " bytes, offset " + offset
                    + ", length " + length);
        }
    }
}
