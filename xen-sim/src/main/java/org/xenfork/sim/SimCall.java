package org.xenfork.sim;

import java.util.function.Predicate;

/**
 * One hypercall as the simulated hypervisor decoded it, before running it:
 * what {@link SimXen#calls()} logs and what a fault predicate
 * ({@link SimXen#injectFault}) sees. Names are Xen's C names.
 *
 * @param hypercall     the hypercall number ({@code __HYPERVISOR_*}), e.g. 36
 * @param hypercallName e.g. {@code domctl}
 * @param cmd           the sub-command: XENVER_*, XEN_DOMCTL_*, XEN_SYSCTL_* or
 *                      XENMEM_* number; -1 when there is none or it could not be read
 * @param cmdName       e.g. {@code XEN_DOMCTL_createdomain}; {@code ""} when none
 * @param op            for {@code XENMEM_sharing_op} the {@code xen_mem_sharing_op.op}; else -1
 * @param opName        e.g. {@code XENMEM_sharing_op_fork}; {@code ""} when none
 * @param domain        the target domain field (domctl {@code domain},
 *                      {@code xen_mem_sharing_op.domain}); -1 when there is none
 */
public record SimCall(int hypercall, String hypercallName, long cmd, String cmdName, long op, String opName,
                      int domain) {

    /** Matches a call whose hypercall, command or sharing op has this Xen name. */
    public static Predicate<SimCall> named(String name) {
        return c -> c.hypercallName.equals(name) || c.cmdName.equals(name) || c.opName.equals(name);
    }

    /** Matches a call named {@code name} that targets {@code domain}. */
    public static Predicate<SimCall> named(String name, int domain) {
        return named(name).and(c -> c.domain == domain);
    }

    /** The innermost name: the sharing op, else the command, else the hypercall. */
    public String shortName() {
        return !opName.isEmpty() ? opName : !cmdName.isEmpty() ? cmdName : hypercallName;
    }

    /** {@code domctl XEN_DOMCTL_pausedomain dom=5}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(hypercallName);
        if (!cmdName.isEmpty()) {
            sb.append(' ').append(cmdName);
        }
        if (!opName.isEmpty()) {
            sb.append(' ').append(opName);
        }
        if (domain >= 0) {
            sb.append(" dom=").append(domain);
        }
        return sb.toString();
    }
}
