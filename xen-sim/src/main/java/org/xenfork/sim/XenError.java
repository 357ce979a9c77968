package org.xenfork.sim;

import org.xenfork.privcmd.Errno;

/**
 * A hypercall failing with {@code -errno}: Xen's {@code ret = -EINVAL; goto out;}
 * written in Java. Thrown inside the simulated hypervisor only; the hypercall
 * dispatcher turns it into the negative {@code long} Xen returns.
 */
final class XenError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int errno;

    XenError(int errno) {
        super(Errno.describe(errno), null, false, false);
        this.errno = errno;
    }

    int errno() {
        return errno;
    }

    /** Throws {@code XenError(errno)} when {@code condition} holds. */
    static void failIf(boolean condition, int errno) {
        if (condition) {
            throw new XenError(errno);
        }
    }
}
