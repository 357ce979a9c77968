package org.xenfork.privcmd;

/**
 * The Linux x86-64 numbers the seam's callers pass: open flags, mmap and madvise
 * arguments, poll events, and the ioctl numbers of privcmd and evtchn
 * (include/uapi/xen/privcmd.h, evtchn.h), each declared once here under its C
 * name; {@code LinuxHeaderOracleTest} holds them to gcc and the C headers.
 */
public final class Linux {
    private Linux() {
    }

    public static final int O_RDWR = 02;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_NONBLOCK = 04000;

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

    /** poll(2)'s events and revents (asm-generic/poll.h). */
    public static final int POLLIN = 0x1;
    public static final int POLLOUT = 0x4;
    public static final int POLLERR = 0x8;
    public static final int POLLHUP = 0x10;
    public static final int POLLNVAL = 0x20;
    public static final int POLLRDNORM = 0x40;
    public static final int POLLWRNORM = 0x100;

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

    /** The event channel device (drivers/xen/evtchn.c), libxenevtchn's only path on Linux. */
    public static final String EVTCHN_DEVICE = "/dev/xen/evtchn";

    /*
     * The evtchn ioctls are _IOC(_IOC_NONE, 'E', nr, sizeof(struct ioctl_evtchn_...)), like
     * privcmd's: direction bits 0, the argument's size in bits 16-29.
     */
    /** _IOC(_IOC_NONE, 'E', 0, 4): bind a VIRQ (not used by xenfork; the simulator names it). */
    public static final int IOCTL_EVTCHN_BIND_VIRQ = 0x00044500;
    /** _IOC(_IOC_NONE, 'E', 1, 8): bind to another domain's unbound port; returns the local port. */
    public static final int IOCTL_EVTCHN_BIND_INTERDOMAIN = 0x00084501;
    /** _IOC(_IOC_NONE, 'E', 2, 4): allocate an unbound port (not used by xenfork; the simulator names it). */
    public static final int IOCTL_EVTCHN_BIND_UNBOUND_PORT = 0x00044502;
    /** _IOC(_IOC_NONE, 'E', 3, 4). */
    public static final int IOCTL_EVTCHN_UNBIND = 0x00044503;
    /** _IOC(_IOC_NONE, 'E', 4, 4). */
    public static final int IOCTL_EVTCHN_NOTIFY = 0x00044504;
    /** _IOC(_IOC_NONE, 'E', 5, 0): empty the ring of pending ports, clear its overflow. */
    public static final int IOCTL_EVTCHN_RESET = 0x00004505;
    /** _IOC(_IOC_NONE, 'E', 6, 2): restrict the fd to one domain (not used by xenfork; the simulator names it). */
    public static final int IOCTL_EVTCHN_RESTRICT_DOMID = 0x00024506;
}
