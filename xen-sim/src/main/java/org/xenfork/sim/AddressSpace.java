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
 *
 * <p>A mapping of {@code /dev/xen/privcmd} ({@link #mapPrivcmd}) has no memory of its own: each of its
 * pages shows the guest {@link Frame} an {@code IOCTL_PRIVCMD_MMAPBATCH_V2} put there, or nothing.
 * Touching a page with no frame is a SIGBUS ({@code privcmd_fault}) for the process, and EFAULT for
 * the kernel and Xen.
 */
final class AddressSpace implements GuestMemory {

    /** Where mappings start: the usual top-of-user-space area on x86-64 Linux. */
    static final long BASE = 0x7f00_0000_0000L;
    /** One mapping at most (a simulator guard, not a Linux limit). */
    static final long MAX_MAPPING = 256L << 20;

    /** One mapping: anonymous or privcmd-buf memory with its own bytes, or a privcmd mapping showing guest frames. */
    static final class Mapping {
        final long start;
        final int length;
        final int prot;
        /** The mapping's own bytes; null for a privcmd mapping. */
        private final byte[] data;
        private final BitSet present;
        /** A privcmd mapping's frame per page (null where none is mapped); null for other mappings. */
        private final Frame[] frames;
        /** {@code vma->vm_private_data != NULL}: an MMAPBATCH has been run on this privcmd mapping. */
        boolean batchMapped;

        private Mapping(long start, int length, int prot, boolean populated, boolean privcmd) {
            this.start = start;
            this.length = length;
            this.prot = prot;
            int pages = length / Linux.PAGE_SIZE;
            this.data = privcmd ? null : new byte[length];
            this.frames = privcmd ? new Frame[pages] : null;
            this.present = new BitSet(pages);
            if (populated && !privcmd) {
                present.set(0, pages);
            }
        }

        long end() {
            return start + length;
        }

        boolean isPrivcmd() {
            return frames != null;
        }

        int pages() {
            return length / Linux.PAGE_SIZE;
        }

        /** The frame page {@code page} of a privcmd mapping shows, or null. */
        Frame frame(int page) {
            return frames[page];
        }

        /** A foreign page-table entry for page {@code page} of a privcmd mapping. */
        void bind(int page, Frame frame) {
            if (frames[page] != null) {
                throw new IllegalStateException("page " + page + " of a privcmd mapping is mapped already");
            }
            frames[page] = frame;
        }

        /** Whether every page of [offset, offset+n) is backed: present, or shows a frame. */
        private boolean backed(int offset, int n) {
            int first = offset / Linux.PAGE_SIZE;
            int last = (offset + n - 1) / Linux.PAGE_SIZE;
            for (int p = first; p <= last; p++) {
                if (isPrivcmd() ? frames[p] == null : !present.get(p)) {
                    return false;
                }
            }
            return true;
        }

        private void copyOut(int offset, byte[] dst, int dstOffset, int n) {
            if (!isPrivcmd()) {
                System.arraycopy(data, offset, dst, dstOffset, n);
                return;
            }
            for (int done = 0; done < n; ) {
                int at = offset + done;
                int chunk = Math.min(n - done, Linux.PAGE_SIZE - at % Linux.PAGE_SIZE);
                frames[at / Linux.PAGE_SIZE].read(at % Linux.PAGE_SIZE, dst, dstOffset + done, chunk);
                done += chunk;
            }
        }

        private void copyIn(int offset, byte[] src, int srcOffset, int n) {
            if (!isPrivcmd()) {
                System.arraycopy(src, srcOffset, data, offset, n);
                present.set(offset / Linux.PAGE_SIZE, (offset + n - 1) / Linux.PAGE_SIZE + 1);
                return;
            }
            for (int done = 0; done < n; ) {
                int at = offset + done;
                int chunk = Math.min(n - done, Linux.PAGE_SIZE - at % Linux.PAGE_SIZE);
                frames[at / Linux.PAGE_SIZE].write(at % Linux.PAGE_SIZE, src, srcOffset + done, chunk);
                done += chunk;
            }
        }

        /** The kernel touched these pages (copy_from_user and kin fault them in). */
        private void touch(int offset, int n) {
            if (!isPrivcmd() && n > 0) {
                present.set(offset / Linux.PAGE_SIZE, (offset + n - 1) / Linux.PAGE_SIZE + 1);
            }
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
        return add(length, prot, populated, false);
    }

    /** Maps {@code length} bytes of the privcmd device: no page shows anything until an MMAPBATCH. */
    synchronized long mapPrivcmd(long length, int prot) {
        return add(length, prot, false, true);
    }

    private long add(long length, int prot, boolean populated, boolean privcmd) {
        long address = next;
        mappings.put(address, new Mapping(address, (int) length, prot, populated, privcmd));
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
    synchronized Mapping unmap(long address, long length) {
        Mapping m = mappings.get(address);
        if (m == null || length <= 0 || roundUpToPage(length) != m.length) {
            return null;
        }
        mappings.remove(address);
        return m;
    }

    /**
     * {@code find_vma}: the first mapping that ends above {@code address} (it may start above it, too),
     * or null.
     */
    synchronized Mapping findVma(long address) {
        Map.Entry<Long, Mapping> e = mappings.floorEntry(address);
        if (e != null && e.getValue().end() > address) {
            return e.getValue();
        }
        Map.Entry<Long, Mapping> above = mappings.higherEntry(address);
        return above == null ? null : above.getValue();
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

    synchronized int privcmdMappingCount() {
        return (int) mappings.values().stream().filter(Mapping::isPrivcmd).count();
    }

    /** The process reads its own memory: unmapped or unreadable is a segfault, a privcmd page without a frame a bus error. */
    synchronized void read(long address, byte[] dst, int dstOffset, int length) {
        checkBuffer(dst, dstOffset, length);
        for (Piece p : processAccess(address, length, Linux.PROT_READ, "read")) {
            p.mapping.copyOut(p.offset, dst, dstOffset + p.bufferOffset, p.length);
        }
    }

    /** The process writes its own memory: unmapped or read-only is a segfault; the pages become present. */
    synchronized void write(long address, byte[] src, int srcOffset, int length) {
        checkBuffer(src, srcOffset, length);
        for (Piece p : processAccess(address, length, Linux.PROT_WRITE, "write")) {
            p.mapping.copyIn(p.offset, src, srcOffset + p.bufferOffset, p.length);
        }
    }

    /**
     * The kernel's {@code copy_from_user}: unlike Xen it can fault pages in,
     * so mapped and readable is enough (but for a privcmd page without a frame,
     * whose fault fails). Null when it would fail (EFAULT).
     */
    synchronized byte[] copyFromUser(long address, int length) {
        List<Piece> pieces = kernelAccess(address, length, Linux.PROT_READ);
        if (pieces == null) {
            return null;
        }
        byte[] out = new byte[length];
        for (Piece p : pieces) {
            p.mapping.touch(p.offset, p.length);
            p.mapping.copyOut(p.offset, out, p.bufferOffset, p.length);
        }
        return out;
    }

    /** The kernel's {@code copy_to_user} (and {@code clear_user}, {@code put_user}): false when it would fail (EFAULT). */
    synchronized boolean copyToUser(long address, byte[] bytes) {
        List<Piece> pieces = kernelAccess(address, bytes.length, Linux.PROT_WRITE);
        if (pieces == null) {
            return false;
        }
        for (Piece p : pieces) {
            p.mapping.copyIn(p.offset, bytes, p.bufferOffset, p.length);
        }
        return true;
    }

    @Override
    public synchronized byte[] copyFromGuest(long address, int length) {
        byte[] out = new byte[length];
        for (Piece p : hypervisorAccess(address, length, Linux.PROT_READ)) {
            p.mapping.copyOut(p.offset, out, p.bufferOffset, p.length);
        }
        return out;
    }

    @Override
    public synchronized void copyToGuest(long address, byte[] bytes) {
        for (Piece p : hypervisorAccess(address, bytes.length, Linux.PROT_WRITE)) {
            p.mapping.copyIn(p.offset, bytes, p.bufferOffset, p.length);
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
            if (p.mapping.isPrivcmd() && !p.mapping.backed(p.offset, p.length)) {
                throw new IllegalStateException("bus error: " + what + " at 0x"
                        + Long.toHexString(p.mapping.start + p.offset)
                        + " touches a page of a privcmd mapping that maps no frame (privcmd_fault: SIGBUS)");
            }
        }
        return pieces;
    }

    /** What the kernel may touch: mapped with the protection needed, and no privcmd page without a frame. */
    private List<Piece> kernelAccess(long address, int length, int needed) {
        List<Piece> pieces = pieces(address, length);
        if (pieces == null) {
            return null;
        }
        for (Piece p : pieces) {
            if ((p.mapping.prot & needed) == 0 || p.mapping.isPrivcmd() && !p.mapping.backed(p.offset, p.length)) {
                return null;
            }
        }
        return pieces;
    }

    private List<Piece> hypervisorAccess(long address, int length, int needed) {
        List<Piece> pieces = pieces(address, length);
        XenError.failIf(pieces == null, Errno.EFAULT);
        for (Piece p : pieces) {
            XenError.failIf((p.mapping.prot & needed) == 0, Errno.EFAULT);
            XenError.failIf(p.length > 0 && !p.mapping.backed(p.offset, p.length), Errno.EFAULT);
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
            int n = (int) Math.min(end - cursor, m.length - offset);
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
