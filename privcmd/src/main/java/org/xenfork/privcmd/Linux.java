package org.xenfork.privcmd;

/**
 * The Linux x86-64 numbers the seam's callers pass: open flags, mmap and madvise
 * arguments, and privcmd's ioctl numbers (include/uapi/xen/privcmd.h), each
 * declared once here.
 */
public final class Linux {
    private Linux() {
    }

    public static final int O_RDWR = 02;
    public static final int O_CLOEXEC = 02000000;

    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_LOCKED = 0x2000;
    /** mmap's failure value, (void *) -1. */
    public static final long MAP_FAILED = -1L;

    public static final int MADV_DONTFORK = 10;
    public static final int MADV_DOFORK = 11;

    public static final int PAGE_SIZE = 4096;

    public static final String PRIVCMD_DEVICE = "/dev/xen/privcmd";
    /** libxencall's fallback when the device node is missing (old kernels). */
    public static final String PRIVCMD_PROC = "/proc/xen/privcmd";
    /** privcmd-buf: hypercall-safe buffers, mmap MAP_SHARED only. */
    public static final String HYPERCALL_DEVICE = "/dev/xen/hypercall";

    /**
     * IOCTL_PRIVCMD_HYPERCALL = _IOC(_IOC_NONE, 'P', 0, sizeof(privcmd_hypercall_t)):
     * direction bits 0, size 48 — not _IOWR.
     */
    public static final int IOCTL_PRIVCMD_HYPERCALL = 0x00305000;

    /**
     * IOCTL_PRIVCMD_MMAPBATCH_V2 = _IOC(_IOC_NONE, 'P', 4, sizeof(privcmd_mmapbatch_v2_t)):
     * size 32. Maps foreign frames into a mapping of the privcmd device, one errno per frame.
     */
    public static final int IOCTL_PRIVCMD_MMAPBATCH_V2 = 0x00205004;
}
