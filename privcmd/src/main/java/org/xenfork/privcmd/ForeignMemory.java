package org.xenfork.privcmd;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * Another domain's guest frames, mapped into this process the way libxenforeignmemory maps them
 * on Linux ({@code osdep_xenforeignmemory_map} in tools/libs/foreignmemory/linux.c): an
 * {@code mmap} of the privcmd device, {@code MAP_SHARED}, one page per frame, then
 * {@code IOCTL_PRIVCMD_MMAPBATCH_V2}, which asks Xen for each frame and reports one errno per frame.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
 *      ForeignMapping m = new ForeignMemory(privcmd).map(5, Linux.PROT_READ, 0x100, 0x101)) {
 *     if (m.frameError(1) != 0) {
 *         System.err.println("gfn 0x101: " + ForeignMapping.describeFrameError(m.frameError(1)));
 *     }
 *     byte[] first = new byte[16];
 *     m.read(0, first, 0, first.length);            // gfn 0x100's first 16 bytes
 * }
 * }</pre>
 *
 * <p>What the kernel and Xen do, and what this class does about it:
 * <ul>
 * <li><b>Per-frame errors are the answer.</b> Linux's {@code privcmd_ioctl_mmap_batch} maps what it
 *     can and writes each failed frame's {@code -errno} into {@code err[]}; the ioctl itself still
 *     returns 0 for EINVAL, ESRCH and the like. {@link ForeignMapping#frameError} holds them. On a PV
 *     dom0 they are {@code mod_l1_entry}'s (xen/arch/x86/mm.c): EINVAL when the gfn is not RAM of the
 *     domain (beyond its memory, a hole, MMIO, or the domain is dying), ENOENT when the page is paged
 *     out, ENOMEM when a writable mapping needs the page unshared and Xen has no memory for the copy;
 *     and {@code do_mmu_update}'s ESRCH for an unknown domain ({@code get_pg_owner}).</li>
 * <li><b>The ioctl's own ENOENT is a hint, not a count.</b> Linux returns -ENOENT only when, in some
 *     512-frame block, the last frame was the one paged out ({@code mmap_batch_fn} sees only the
 *     last {@code mmu_update}'s result), so a paged-out frame in the middle of a batch leaves the
 *     ioctl returning 0. This class reads {@code err[]} after every call and never relies on it.</li>
 * <li><b>Paged-out frames are retried, a bounded number of times.</b> Xen answered ENOENT and asked its
 *     pager to bring the page back ({@code p2m_mem_paging_populate}). libxenforeignmemory retries
 *     such frames every 100 µs until they come back, forever; this class retries them, at their place
 *     in the mapping as {@code retry_paged} does, {@value #PAGED_OUT_RETRIES} times with pauses that
 *     double from 100 µs (25.5 ms in all), then leaves them failed with ENOENT: a pager that is gone
 *     must not hang a tool.</li>
 * <li><b>Reading a failed frame would be a SIGBUS</b> ({@code privcmd_fault}); a {@link ForeignMapping}
 *     refuses to touch one.</li>
 * <li><b>A writable mapping changes the guest's memory accounting</b>, as in Xen: mapping a fork's
 *     page it does not have yet gives it a copy of its parent's ({@code mem_sharing_fork_page}), and
 *     mapping a shared page writable unshares it ({@code P2M_UNSHARE} in {@code mod_l1_entry}).
 *     A read-only mapping of a fork's missing page shares its parent's.</li>
 * </ul>
 * {@code IOCTL_PRIVCMD_MMAP_RESOURCE} is not used: guest memory and the vm_event ring page
 * ({@code xc_vm_event_enable} maps it by gfn) both go through MMAPBATCH_V2.
 *
 * <p>Not thread-safe: it uses its {@link Privcmd}'s hypercall buffers. Mappings stay valid after the
 * Privcmd is closed (the kernel keeps the file open for them) until they are closed.
 */
public final class ForeignMemory {
    /** Frames in one mapping (4 MiB): a bound on one call's kernel and hypervisor work. */
    public static final int MAX_PAGES = 1024;
    /** The last frame of x86-64's 52-bit physical address space (Xen's {@code PADDR_BITS}). */
    public static final long MAX_GFN = (1L << (52 - 12)) - 1;
    /** Retries of frames that stay paged out, after the first attempt. */
    public static final int PAGED_OUT_RETRIES = 8;
    private static final long FIRST_RETRY_PAUSE_NS = 100_000;

    /** privcmd_mmapbatch_v2 is Linux's, the same whatever Xen runs underneath; any release's layout serves. */
    private static final StructLayout MMAPBATCH = Abi.anyRelease().struct("privcmd_mmapbatch_v2");
    private static final Leaf NUM = MMAPBATCH.leaf("num");
    private static final Leaf DOM = MMAPBATCH.leaf("dom");
    private static final Leaf ADDR = MMAPBATCH.leaf("addr");
    private static final Leaf ARR = MMAPBATCH.leaf("arr");
    private static final Leaf ERR = MMAPBATCH.leaf("err");
    private static final int PFN_SIZE = Abi.anyRelease().typedefSize("xen_pfn_t").orElseThrow();
    /** {@code int err[]}. */
    private static final int ERR_SIZE = Integer.BYTES;

    private final Privcmd privcmd;

    /** Foreign mappings through an open privcmd device. */
    public ForeignMemory(Privcmd privcmd) {
        if (privcmd == null) {
            throw new IllegalArgumentException("no privcmd");
        }
        this.privcmd = privcmd;
    }

    /**
     * {@code mmap} of the privcmd device and {@code IOCTL_PRIVCMD_MMAPBATCH_V2}: frame {@code gfns[i]}
     * of domain {@code domid} at page {@code i} of a new mapping, or its errno in
     * {@link ForeignMapping#frameError(int)}. Paged-out frames are retried (see the class comment).
     *
     * @param domid a domain other than this one: 1 to {@code DOMID_FIRST_RESERVED - 1}
     * @param prot  {@link Linux#PROT_READ}, or {@code PROT_READ | PROT_WRITE} to write (which unshares)
     * @param gfns  1 to {@link #MAX_PAGES} guest frame numbers, each 0 to {@link #MAX_GFN}
     * @throws NativeException when the mapping as a whole failed (mmap's ENOMEM, the ioctl's EPERM on a
     *                         restricted fd, EINVAL on a kernel without MMAPBATCH_V2); nothing stays mapped
     * @throws IllegalArgumentException for a domid, prot or gfn outside the ranges above
     */
    public ForeignMapping map(int domid, int prot, long... gfns) throws NativeException {
        checkDomid(domid);
        checkProt(prot);
        checkGfns(gfns);
        int fd = privcmd.fd();
        NativeSeam seam = privcmd.seam();
        int n = gfns.length;
        long length = (long) n * Linux.PAGE_SIZE;
        long address;
        try {
            address = seam.mmap(length, prot, Linux.MAP_SHARED, fd, 0);
        } catch (NativeException e) {
            throw new NativeException("mmap of " + n + " page(s) of " + Linux.PRIVCMD_DEVICE + " for domain " + domid,
                    e.errno());
        }
        try {
            int[] errors = mapFrames(seam, fd, domid, address, gfns);
            return new ForeignMapping(seam, domid, address, prot, gfns.clone(), errors);
        } catch (NativeException | RuntimeException e) {
            try {
                seam.munmap(address, length);
            } catch (NativeException ignored) {
                // Our own fresh mapping: unmapping it cannot fail short of a bug; the first error is the news.
            }
            throw e;
        }
    }

    /** The batch, then the paged-out frames again; the errno of every frame (0: mapped). */
    private int[] mapFrames(NativeSeam seam, int fd, int domid, long address, long[] gfns) throws NativeException {
        int n = gfns.length;
        int arrOffset = MMAPBATCH.size();
        int errOffset = arrOffset + PFN_SIZE * n;
        byte[] image = new byte[errOffset + ERR_SIZE * n];
        ByteBuffer le = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            le.putLong(arrOffset + PFN_SIZE * i, gfns[i]);
        }
        int[] errors = new int[n];
        try (HypercallBuffer call = privcmd.buffers().acquire(image.length)) {
            // The whole image once (the gfn array); later calls rewrite only the struct.
            call.put(image, image.length);
            batch(seam, fd, call, image, domid, address, 0, n, errors);
            for (int attempt = 0; attempt < PAGED_OUT_RETRIES && hasPagedOut(errors); attempt++) {
                LockSupport.parkNanos(FIRST_RETRY_PAUSE_NS << attempt);
                for (int i = 0; i < n; ) {
                    if (errors[i] != Errno.ENOENT) {
                        i++;
                        continue;
                    }
                    int end = i + 1;
                    while (end < n && errors[end] == Errno.ENOENT) {
                        end++;
                    }
                    batch(seam, fd, call, image, domid, address, i, end - i, errors);
                    i = end;
                }
            }
        }
        return errors;
    }

    /**
     * One IOCTL_PRIVCMD_MMAPBATCH_V2 for frames {@code first .. first+count-1}, at their pages of the
     * mapping; their errnos into {@code errors}. Linux answers -ENOENT when the batch's last frame is paged
     * out: that, like 0, means err[] holds the answer.
     */
    private static void batch(NativeSeam seam, int fd, HypercallBuffer call, byte[] image, int domid, long address,
                              int first, int count, int[] errors) throws NativeException {
        int arrOffset = MMAPBATCH.size();
        int errOffset = arrOffset + PFN_SIZE * errors.length;
        Arrays.fill(image, 0, MMAPBATCH.size(), (byte) 0);
        NUM.write(image, 0, count);
        DOM.write(image, 0, domid);
        ADDR.write(image, 0, address + (long) first * Linux.PAGE_SIZE);
        ARR.write(image, 0, call.address() + arrOffset + (long) PFN_SIZE * first);
        ERR.write(image, 0, call.address() + errOffset + (long) ERR_SIZE * first);
        call.put(image, MMAPBATCH.size());
        try {
            seam.ioctl(fd, Linux.IOCTL_PRIVCMD_MMAPBATCH_V2, call.address());
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOENT) {
                throw new NativeException("ioctl(IOCTL_PRIVCMD_MMAPBATCH_V2) of " + count + " frame(s) of domain "
                        + domid, e.errno());
            }
        }
        call.get(image, image.length);
        ByteBuffer le = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = first; i < first + count; i++) {
            // Linux stores -errno for a failed frame and leaves 0 for a mapped one.
            errors[i] = -le.getInt(errOffset + ERR_SIZE * i);
        }
    }

    private static boolean hasPagedOut(int[] errors) {
        for (int e : errors) {
            if (e == Errno.ENOENT) {
                return true;
            }
        }
        return false;
    }

    private static void checkDomid(int domid) {
        if (domid == 0) {
            throw new IllegalArgumentException("domain 0 is the control domain this runs in: Xen maps only other"
                    + " domains' frames (get_pg_owner refuses the caller itself)");
        }
        if (domid < 0 || domid >= Domid.FIRST_RESERVED) {
            throw new IllegalArgumentException("domain id " + domid + " is out of range: domain ids are 1 to "
                    + (Domid.FIRST_RESERVED - 1) + " (0x" + Integer.toHexString(Domid.FIRST_RESERVED - 1) + ")");
        }
    }

    private static void checkProt(int prot) {
        if (prot != Linux.PROT_READ && prot != (Linux.PROT_READ | Linux.PROT_WRITE)) {
            throw new IllegalArgumentException("prot 0x" + Integer.toHexString(prot)
                    + ": map with PROT_READ (0x1) or PROT_READ|PROT_WRITE (0x3)");
        }
    }

    private static void checkGfns(long[] gfns) {
        if (gfns == null || gfns.length == 0) {
            throw new IllegalArgumentException("no frames to map: give 1 to " + MAX_PAGES + " gfns");
        }
        if (gfns.length > MAX_PAGES) {
            throw new IllegalArgumentException(gfns.length + " frames in one mapping: at most " + MAX_PAGES
                    + " (" + (MAX_PAGES * Linux.PAGE_SIZE >> 20) + " MiB); map them in pieces");
        }
        for (int i = 0; i < gfns.length; i++) {
            if (gfns[i] < 0 || gfns[i] > MAX_GFN) {
                throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfns[i]) + " (frame " + i
                        + ") is outside x86-64's 52-bit physical address space: gfns are 0 to 0x"
                        + Long.toHexString(MAX_GFN));
            }
        }
    }
}
