package org.xenfork.sim;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;

/**
 * {@code IOCTL_PRIVCMD_MMAPBATCH_V2} as Linux answers it on a PV dom0: {@code privcmd_ioctl_mmap_batch}
 * in drivers/xen/privcmd.c and {@code xen_remap_pfn} in arch/x86/xen/mmu_pv.c, step by step:
 * <ol>
 * <li>copy the {@code privcmd_mmapbatch_v2} in (EFAULT); {@code access_ok} on {@code err[]} (EFAULT
 *     beyond user space); {@code num} 0: EINVAL;</li>
 * <li>copy {@code arr[]} in ({@code gather_array}: EFAULT) and zero {@code err[]} ({@code clear_user}:
 *     EFAULT);</li>
 * <li>{@code find_vma(addr)} must be a privcmd mapping (EINVAL). The first batch on it must cover it
 *     exactly; later ones (retries of paged-out frames) must lie inside it and only on pages that map
 *     nothing yet (EINVAL);</li>
 * <li>the frames go to Xen in blocks of 512 (one page of the gathered array) and, inside a block, in
 *     {@code mmu_update} calls of up to 16 entries; a failed entry gets its errno and the next call
 *     starts after it;</li>
 * <li>the errors are copied out, and the ioctl returns -ENOENT when some block's <em>last</em>
 *     {@code mmu_update} failed with ENOENT, else 0 whatever failed: {@code mmap_batch_fn} only sees
 *     what {@code xen_remap_pfn} returns, which is the last call's error or the count mapped.</li>
 * </ol>
 * {@code IOCTL_PRIVCMD_RESTRICT} (EPERM for another domain) is not modelled.
 */
final class PrivcmdMmapBatch {
    /** {@code REMAP_BATCH_SIZE} in arch/x86/xen/mmu_pv.c. */
    private static final int REMAP_BATCH_SIZE = 16;
    /** {@code traverse_pages_block}: the gfns of one page of the gathered array. */
    private static final int BLOCK = Linux.PAGE_SIZE / Long.BYTES;
    /** {@code TASK_SIZE_MAX} on x86-64 with 4-level paging: where {@code access_ok} ends user space. */
    private static final long TASK_SIZE_MAX = (1L << 47) - Linux.PAGE_SIZE;

    private final int size;
    private final Leaf num;
    private final Leaf dom;
    private final Leaf addr;
    private final Leaf arr;
    private final Leaf err;

    PrivcmdMmapBatch(XenRelease release) {
        StructLayout s = Abi.forRelease(release).struct("privcmd_mmapbatch_v2");
        this.size = s.size();
        this.num = s.leaf("num");
        this.dom = s.leaf("dom");
        this.addr = s.leaf("addr");
        this.arr = s.leaf("arr");
        this.err = s.leaf("err");
    }

    /** The ioctl's result: 0, or a negative errno. Call it holding the simulator's lock (it changes Xen's state). */
    long ioctl(AddressSpace memory, SimXen xen, long argAddress) {
        byte[] m = memory.copyFromUser(argAddress, size);
        if (m == null) {
            return -Errno.EFAULT;
        }
        long n = num.read(m, 0);
        int domain = (int) dom.read(m, 0);
        long va = addr.read(m, 0);
        long arrAddress = arr.read(m, 0);
        long errAddress = err.read(m, 0);
        if (errAddress < 0 || errAddress + Integer.BYTES * n > TASK_SIZE_MAX) {
            return -Errno.EFAULT;
        }
        if (n == 0) {
            return -Errno.EINVAL;
        }
        if (n * Long.BYTES > AddressSpace.MAX_MAPPING) {
            return -Errno.EFAULT; // no mapping here is big enough to hold such an array
        }
        int count = (int) n;
        byte[] gfnBytes = memory.copyFromUser(arrAddress, count * Long.BYTES);
        if (gfnBytes == null) {
            return -Errno.EFAULT;
        }
        if (!memory.copyToUser(errAddress, new byte[count * Integer.BYTES])) {
            return -Errno.EFAULT;
        }
        AddressSpace.Mapping vma = memory.findVma(va);
        if (vma == null || !vma.isPrivcmd()) {
            return -Errno.EINVAL;
        }
        long end = va + (long) count * Linux.PAGE_SIZE;
        if (!vma.batchMapped) {
            if (va != vma.start || end != vma.end()) {
                return -Errno.EINVAL;
            }
            vma.batchMapped = true;
        } else {
            if (va < vma.start || end > vma.end()) {
                return -Errno.EINVAL;
            }
            int first = (int) ((va - vma.start) / Linux.PAGE_SIZE);
            for (int p = first; p < first + count; p++) {
                if (vma.frame(p) != null) {
                    return -Errno.EINVAL; // privcmd_vma_range_is_mapped
                }
            }
        }
        ByteBuffer gfns = ByteBuffer.wrap(gfnBytes).order(ByteOrder.LITTLE_ENDIAN);
        int[] errors = new int[count];
        boolean writable = (vma.prot & Linux.PROT_WRITE) != 0;
        int firstPage = (int) ((va - vma.start) / Linux.PAGE_SIZE);
        int globalError = 0;
        for (int b = 0; b < count; b += BLOCK) {
            int nr = Math.min(BLOCK, count - b);
            long ret = remap(xen, vma, firstPage + b, gfns, b, nr, errors, domain, writable);
            if (ret != nr) {
                if (ret == -Errno.ENOENT) {
                    globalError = -Errno.ENOENT;
                } else if (globalError == 0) {
                    globalError = 1;
                }
            }
        }
        if (globalError != 0) {
            ByteBuffer le = ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) {
                if (errors[i] != 0 && !memory.copyToUser(errAddress + (long) Integer.BYTES * i,
                        le.putInt(0, errors[i]).array().clone())) {
                    return -Errno.EFAULT;
                }
            }
        }
        return globalError == -Errno.ENOENT ? -Errno.ENOENT : 0;
    }

    /**
     * {@code xen_remap_pfn} for one block: the last {@code mmu_update}'s error if it failed, else the
     * number of frames mapped by calls that did not fail.
     */
    private static long remap(SimXen xen, AddressSpace.Mapping vma, int page, ByteBuffer gfns, int first, int nr,
                              int[] errors, int domain, boolean writable) {
        long rc = 0;
        int mapped = 0;
        for (int b = 0; b < nr; b += REMAP_BATCH_SIZE) {
            int batch = Math.min(REMAP_BATCH_SIZE, nr - b);
            int index = 0;
            while (index < batch) {
                List<MmuUpdate.Request> requests = new ArrayList<>();
                for (int i = index; i < batch; i++) {
                    requests.add(new MmuUpdate.Request(gfns.getLong(Long.BYTES * (first + b + i)), writable));
                }
                MmuUpdate.Result r = xen.mmuUpdate(domain, requests);
                for (int i = 0; i < r.done(); i++) {
                    vma.bind(page + b + index + i, r.frames().get(i));
                }
                rc = r.rc();
                int done = r.done();
                if (rc < 0) {
                    errors[first + b + index + done] = (int) rc;
                    done++; // skip the failed frame
                } else {
                    mapped += done;
                }
                index += done;
            }
        }
        return rc < 0 ? rc : mapped;
    }
}
