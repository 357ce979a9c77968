package org.xenfork.privcmd;

import java.util.Set;
import org.xenfork.abi.Abi;

/**
 * One domain as {@code XEN_DOMCTL_getdomaininfo} reports it (the fields every
 * release has, plus {@code gpaddr_bits} from 4.16, else 0). {@code flags} is
 * Xen's word as it came; {@code states} and {@code shutdownReason} are that word
 * read with the release's {@code XEN_DOMINF_*} constants.
 */
public record DomainInfo(int domid, long flags, Set<DomainFlag> states, int shutdownReason, long totPages,
                         long maxPages, long outstandingPages, long shrPages, long pagedPages, long sharedInfoFrame,
                         long cpuTimeNs, int onlineVcpus, int maxVcpuId, long ssidref, byte[] handle, int cpupool,
                         int gpaddrBits, long emulationFlags, long miscFlags) {

    /**
     * {@code SHUTDOWN_crash} in xen/include/public/sched.h: the reason xl shows as 'c' (any other shows as 's').
     * sched.h's reasons are the same in every release (common-x86_64.abi), so any release's ABI gives it.
     */
    public static final int SHUTDOWN_CRASH = (int) Abi.anyRelease().constant("SHUTDOWN_crash");

    public DomainInfo {
        states = Set.copyOf(states);
    }

    public boolean has(DomainFlag flag) {
        return states.contains(flag);
    }

    /** vCPUs the domain may have: max_vcpu_id + 1 (0 when XEN_INVALID_MAX_VCPU_ID). */
    public int maxVcpus() {
        return maxVcpuId == -1 ? 0 : maxVcpuId + 1;
    }

    /** Memory in KiB, as {@code xl list} shows it (tot_pages of 4 KiB). */
    public long memoryKb() {
        return totPages * 4;
    }

    /** The six-letter state column of {@code xl list}: r b p s c d. */
    public String stateLetters() {
        boolean crashed = has(DomainFlag.SHUTDOWN) && shutdownReason == SHUTDOWN_CRASH;
        return "" + (has(DomainFlag.RUNNING) ? 'r' : '-') + (has(DomainFlag.BLOCKED) ? 'b' : '-')
                + (has(DomainFlag.PAUSED) ? 'p' : '-') + (has(DomainFlag.SHUTDOWN) && !crashed ? 's' : '-')
                + (crashed ? 'c' : '-') + (has(DomainFlag.DYING) ? 'd' : '-');
    }
}
