package org.xenfork.privcmd;

/**
 * The environment cannot make hypercalls or use event channels: no
 * {@code /dev/xen/privcmd} or {@code /dev/xen/evtchn} (not a dom0), not root, or
 * no hypercall buffers. The message says what to do; the command line maps it to
 * exit code 3.
 */
public class XenEnvironmentException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public XenEnvironmentException(String message) {
        super(message);
    }

    static XenEnvironmentException forPrivcmdOpen(NativeException e) {
        return switch (e.errno()) {
            case Errno.ENOENT, Errno.ENXIO, Errno.ENODEV -> new XenEnvironmentException(
                    Linux.PRIVCMD_DEVICE + " does not exist (" + e.getMessage() + "): this machine is not a Xen dom0, "
                    + "or the privcmd driver is not loaded (modprobe xen-privcmd). To try xenfork without Xen, "
                    + "use --backend sim.");
            case Errno.EACCES, Errno.EPERM -> new XenEnvironmentException(
                    e.getMessage() + ": hypercalls need root in dom0; run xenfork as root.");
            default -> new XenEnvironmentException(e.getMessage() + ": cannot open the hypercall interface.");
        };
    }

    static XenEnvironmentException forEvtchnOpen(NativeException e) {
        return switch (e.errno()) {
            case Errno.ENOENT, Errno.ENXIO, Errno.ENODEV -> new XenEnvironmentException(
                    Linux.EVTCHN_DEVICE + " does not exist (" + e.getMessage() + "): this machine is not a Xen dom0, "
                    + "or the event channel driver is not loaded (modprobe xen-evtchn). To try xenfork without Xen, "
                    + "use --backend sim.");
            case Errno.EACCES, Errno.EPERM -> new XenEnvironmentException(
                    e.getMessage() + ": event channels need root in dom0; run xenfork as root.");
            default -> new XenEnvironmentException(e.getMessage() + ": cannot open the event channel device.");
        };
    }
}
