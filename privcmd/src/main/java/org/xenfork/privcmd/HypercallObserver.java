package org.xenfork.privcmd;

import org.xenfork.abi.StructLayout;

/**
 * Sees every typed hypercall: what was sent, what came back, the result. Used by
 * {@code --trace} (decode to stderr) and {@code --dry-run} (print, don't issue).
 * With no observer nothing is copied or decoded: the fast path allocates nothing.
 */
@FunctionalInterface
public interface HypercallObserver {

    /**
     * @param call     Xen's name for it, e.g. {@code XEN_DOMCTL_getdomaininfo}
     * @param layout   the struct passed, e.g. {@code xen_domctl}
     * @param sent     its bytes as sent (a copy)
     * @param returned its bytes after the call (a copy), or null when not issued
     * @param result   the hypercall's result, or the negative errno
     * @param issued   false under {@code --dry-run}
     */
    void hypercall(String call, StructLayout layout, byte[] sent, byte[] returned, long result, boolean issued);
}
