package org.xenfork.sim;

import org.xenfork.privcmd.Errno;

/**
 * A hypercall the simulated hypervisor ran, in the order it ran: the decoded
 * call, Xen's {@code long} result, and whether an injected fault produced it.
 * Calls inside a multicall are logged after the multicall that carries them.
 */
public record LoggedCall(SimCall call, long result, boolean injected) {

    /** The errno of a failed call ({@code -result}), or 0 for a non-negative result. */
    public int errno() {
        return result < 0 && result >= -4095 ? (int) -result : 0;
    }

    /** {@code domctl XEN_DOMCTL_createdomain dom=0 -> 0}, {@code … -> EINVAL (22)}. */
    @Override
    public String toString() {
        return call + " -> " + (errno() != 0 ? Errno.describe(errno()) : Long.toString(result))
                + (injected ? " [injected]" : "");
    }
}
