package org.xenfork.privcmd;

/**
 * The hypervisor refused a hypercall, or Linux's Xen driver in front of it refused
 * an operation ({@code IOCTL_EVTCHN_BIND_INTERDOMAIN}, a read of {@code /dev/xen/evtchn}):
 * which call (Xen's or Linux's name for it), on which domain, with which errno, and
 * what that usually means. The command line maps it to exit code 1 and prints
 * {@code XEN_DOMCTL_createdomain: EINVAL (22) …}.
 */
public class XenException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int domid;
    private final int errno;

    public XenException(String call, int domid, int errno, String hint) {
        super(call + (domid >= 0 ? " (domain " + domid + ")" : "") + ": " + Errno.describe(errno)
                + (hint == null || hint.isEmpty() ? "" : ": " + hint));
        this.call = call;
        this.domid = domid;
        this.errno = errno;
    }

    /** The call's name, e.g. {@code XEN_DOMCTL_pausedomain}, {@code XENMEM_sharing_op_fork}, {@code IOCTL_EVTCHN_UNBIND}. */
    public String call() {
        return call;
    }

    /** The domain the call was about, or -1. */
    public int domid() {
        return domid;
    }

    public int errno() {
        return errno;
    }

    /** What an errno usually means for a toolstack hypercall; the call-specific cases first. */
    static String hintFor(String call, int errno) {
        boolean sharing = call.startsWith("XENMEM_sharing_op");
        if (call.equals("XEN_DOMCTL_vm_event_op")) {
            switch (errno) {
                case Errno.EBUSY:
                    return "a monitor ring is already enabled for this domain (Xen allows one agent at a time); if a "
                            + "xenfork monitor died, run: xenfork monitor --cleanup DOMAIN";
                case Errno.EOPNOTSUPP:
                    return "the domain has no monitor ring page (HVM_PARAM_MONITOR_RING_PFN is 0: not an HVM/PVH domain "
                            + "built by a toolstack that reserves one)";
                case Errno.ENODEV:
                    return "no monitor ring is enabled for this domain";
                default:
                    break;
            }
        } else if (call.equals("XEN_DOMCTL_monitor_op")) {
            switch (errno) {
                case Errno.EOPNOTSUPP:
                    return "this hypervisor does not offer that monitor event for this domain "
                            + "(XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES lists what it offers)";
                case Errno.EEXIST:
                    return "the monitor event is already in the requested state";
                default:
                    break;
            }
        }
        return switch (errno) {
            case Errno.EPERM -> "not permitted: the caller is not the control domain, or this privcmd fd is restricted";
            case Errno.ESRCH -> "no such domain";
            case Errno.ENOSYS -> sharing
                    ? (call.endsWith("fork_reset") ? "the domain is not a fork, or memory sharing is not built into this hypervisor"
                        : "memory sharing is not built into this hypervisor (CONFIG_MEM_SHARING)")
                    : "not implemented by this hypervisor";
            case Errno.EOPNOTSUPP -> sharing
                    ? "forking needs an HVM domain on Intel VT-x with HAP (AMD SVM is not supported by Xen's memory sharing)"
                    : "not supported on this hardware or configuration";
            case Errno.ENODEV -> sharing ? "the domain does not use HAP (hardware-assisted paging)" : "no such device";
            case Errno.EXDEV -> sharing ? "the domain has an IOMMU enabled (--allow-iommu allows it for the parent only)"
                    : "cross-device operation refused";
            case Errno.EBUSY -> sharing ? "the fork must be paused by the toolstack" : "busy; try again";
            case Errno.EAGAIN -> "try again";
            case Errno.EINVAL -> "invalid argument";
            case Errno.EEXIST -> "a domain with that id already exists";
            case Errno.ENOMEM -> "the hypervisor is out of memory";
            case Errno.EFAULT -> "a hypercall buffer was not accessible to Xen";
            default -> "";
        };
    }
}
