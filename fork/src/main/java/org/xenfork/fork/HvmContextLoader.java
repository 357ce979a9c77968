package org.xenfork.fork;

import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.privcmd.Hypervisor;

/**
 * Loading an HVM context into a domain, the one checked way ({@code XEN_DOMCTL_sethvmcontext}). Xen's loader
 * refuses a whole stream (EINVAL) for a record it has no handler for, or a per-vCPU record of a vCPU the domain
 * does not have, and only after it has paused the domain for the load (up to 4.18 it has also loaded the
 * records before the bad one); {@link #load} refuses those streams before any hypercall changes the domain.
 *
 * <p>Why here: the checks are {@code hvm-context}'s ({@link HvmContext#requireKnownTypes},
 * {@link HvmContext#requireFits}), the domain's vCPU count and the load are privcmd's
 * ({@code getdomaininfo}, {@link Hypervisor#setHvmContext}); hvm-context stays bytes only, for files and
 * tools with no Xen (it must not depend on privcmd), and privcmd stays the typed hypercalls over bytes.
 * {@code fork} is the library layer that puts checks and hypercalls together for callers (as {@link Forker}
 * does for forks), so a library caller gets the same checks as {@code xenfork hvm-context set}.
 */
public final class HvmContextLoader {

    private HvmContextLoader() {
    }

    /**
     * Checks {@code ctx} against domain {@code domid} and loads it: every record's type is one the release's
     * loader has, every per-vCPU record names a vCPU below the domain's {@code max_vcpus} (from
     * {@code XEN_DOMCTL_getdomaininfo}); then {@code XEN_DOMCTL_sethvmcontext} with the context's bytes.
     *
     * @throws HvmContextException when a check fails: nothing was sent to the domain
     * @throws IllegalArgumentException when {@code ctx} was read for another release than {@code xen}'s
     *         (its lengths were checked against that release's loader)
     * @throws org.xenfork.privcmd.XenException when Xen refuses getdomaininfo or the load
     */
    public static void load(Hypervisor xen, int domid, HvmContext ctx) throws HvmContextException {
        if (!ctx.release().equals(xen.release())) {
            throw new IllegalArgumentException("an HVM context read for Xen " + ctx.release() + " cannot be loaded into"
                    + " Xen " + xen.release() + ": read it for " + xen.release());
        }
        ctx.requireKnownTypes();
        ctx.requireFits(xen.domainInfo(domid).maxVcpus());
        xen.setHvmContext(domid, ctx.serialise());
    }
}
