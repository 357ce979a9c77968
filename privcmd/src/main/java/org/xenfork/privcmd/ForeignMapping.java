package org.xenfork.privcmd;

/**
 * Frames of another domain mapped into this process by {@link ForeignMemory#map}: page {@code i}
 * of the mapping is frame {@link #gfn(int) gfn(i)}, or, when Xen refused it, unmapped with
 * {@link #frameError(int) frameError(i)} saying why. {@link #close()} unmaps it (munmap), which
 * drops the references the mapping held on the guest's pages.
 *
 * <p>Reads and writes go through the native seam at the mapping's address. A page Xen refused is
 * never touched (the kernel would answer with SIGBUS), nor is a read-only mapping written (SIGSEGV):
 * both are refused with an {@link IllegalStateException} naming the page, its gfn and why.
 */
public final class ForeignMapping implements AutoCloseable {
    private final NativeSeam seam;
    private final int domid;
    private final long address;
    private final int prot;
    private final long[] gfns;
    private final int[] errors;
    private boolean closed;

    ForeignMapping(NativeSeam seam, int domid, long address, int prot, long[] gfns, int[] errors) {
        this.seam = seam;
        this.domid = domid;
        this.address = address;
        this.prot = prot;
        this.gfns = gfns;
        this.errors = errors;
    }

    /** The domain whose frames these are. */
    public int domid() {
        return domid;
    }

    /** Where the mapping starts in this process; page {@code i} is at {@code address() + i * 4096}. */
    public long address() {
        return address;
    }

    /** Pages in the mapping, one per gfn asked for. */
    public int pages() {
        return gfns.length;
    }

    /** Mapped with PROT_WRITE. */
    public boolean writable() {
        return (prot & Linux.PROT_WRITE) != 0;
    }

    /** The frame asked for at page {@code page}. */
    public long gfn(int page) {
        checkPage(page);
        return gfns[page];
    }

    /** 0 when page {@code page} is mapped, else the errno Xen or Linux gave for its frame. */
    public int frameError(int page) {
        checkPage(page);
        return errors[page];
    }

    /** The first page whose frame is not mapped, or -1 when all are. */
    public int firstUnmappedPage() {
        for (int i = 0; i < errors.length; i++) {
            if (errors[i] != 0) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Copies {@code length} bytes at byte {@code offset} of the mapping (page {@code offset / 4096})
     * into {@code dst}; the range may cross pages, all of which must be mapped.
     */
    public void read(long offset, byte[] dst, int dstOffset, int length) {
        check(offset, dst, dstOffset, length, "read");
        seam.read(address + offset, dst, dstOffset, length);
    }

    /**
     * Copies {@code length} bytes of {@code src} to byte {@code offset} of the mapping; the range may
     * cross pages, all of which must be mapped, and the mapping must be writable.
     */
    public void write(long offset, byte[] src, int srcOffset, int length) {
        check(offset, src, srcOffset, length, "write");
        if (!writable()) {
            throw new IllegalStateException("this mapping of domain " + domid + " is read-only (PROT_READ):"
                    + " map with PROT_READ|PROT_WRITE to write");
        }
        seam.write(address + offset, src, srcOffset, length);
    }

    /** munmap: the frames are no longer mapped here. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            seam.munmap(address, (long) gfns.length * Linux.PAGE_SIZE);
        } catch (NativeException e) {
            throw new IllegalStateException("unmapping " + gfns.length + " page(s) of domain " + domid + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * What a frame's errno means for a foreign mapping, in words: {@code EINVAL (22): not RAM of the
     * domain…}. The errnos are {@code mod_l1_entry}'s and {@code do_mmu_update}'s (xen/arch/x86/mm.c).
     */
    public static String describeFrameError(int errno) {
        String why = switch (errno) {
            case Errno.EINVAL -> "not RAM of the domain (beyond its memory, a hole or an MMIO range), or the domain"
                    + " is dying; check the address against the domain's memory";
            case Errno.ENOENT -> "paged out: Xen's pager has not brought the page back (retried "
                    + ForeignMemory.PAGED_OUT_RETRIES + " times); try again later";
            case Errno.ESRCH -> "no such domain; check the domain id (xenfork list)";
            case Errno.ENOMEM -> "the page is shared and Xen had no memory for the private copy a writable"
                    + " mapping needs; free host memory, or read instead";
            case Errno.EPERM, Errno.EACCES -> "not permitted: an XSM policy, or a privcmd fd restricted to"
                    + " another domain";
            case Errno.EFAULT -> "the kernel could not reach the page-table entry or the ioctl's arrays";
            default -> "";
        };
        return Errno.describe(errno) + (why.isEmpty() ? "" : ": " + why);
    }

    private void check(long offset, byte[] buffer, int bufferOffset, int length, String what) {
        if (closed) {
            throw new IllegalStateException("this mapping of domain " + domid + " is closed");
        }
        long size = (long) gfns.length * Linux.PAGE_SIZE;
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException(what + " of " + length + " bytes at offset " + offset
                    + " does not fit a mapping of " + gfns.length + " page(s) (" + size + " bytes)");
        }
        if (bufferOffset < 0 || bufferOffset > buffer.length - length) {
            throw new IndexOutOfBoundsException(what + " of " + length + " bytes at index " + bufferOffset
                    + " of a " + buffer.length + "-byte array");
        }
        if (length == 0) {
            return;
        }
        int firstPage = (int) (offset / Linux.PAGE_SIZE);
        int lastPage = (int) ((offset + length - 1) / Linux.PAGE_SIZE);
        for (int p = firstPage; p <= lastPage; p++) {
            if (errors[p] != 0) {
                throw new IllegalStateException(what + " of page " + p + " (gfn 0x" + Long.toHexString(gfns[p])
                        + ") of domain " + domid + ": that frame is not mapped: "
                        + describeFrameError(errors[p]) + " (check frameError() first)");
            }
        }
    }

    private void checkPage(int page) {
        if (page < 0 || page >= gfns.length) {
            throw new IndexOutOfBoundsException("page " + page + " of a mapping of " + gfns.length + " page(s)");
        }
    }
}
