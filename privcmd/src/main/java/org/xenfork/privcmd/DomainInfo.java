package org.xenfork.privcmd;

/**
 * One domain as {@code XEN_DOMCTL_getdomaininfo} reports it (the fields every
 * release has, plus {@code gpaddr_bits} from 4.16, else 0).
 */
public record DomainInfo(int domid, long flags, long totPages, long maxPages, long outstandingPages, long shrPages,
                         long pagedPages, long sharedInfoFrame, long cpuTimeNs, int onlineVcpus, int maxVcpuId,
                         long ssidref, byte[] handle, int cpupool, int gpaddrBits, long emulationFlags, long miscFlags) {

    public static final long DYING = 1L << 0;
    public static final long HVM_GUEST = 1L << 1;
    public static final long SHUTDOWN = 1L << 2;
    public static final long PAUSED = 1L << 3;
    public static final long BLOCKED = 1L << 4;
    public static final long RUNNING = 1L << 5;
    public static final long DEBUGGED = 1L << 6;
    public static final long XS_DOMAIN = 1L << 7;
    public static final long HAP = 1L << 8;

    public boolean has(long flag) {
        return (flags & flag) != 0;
    }

    /** vCPUs the domain may have: max_vcpu_id + 1 (0 when XEN_INVALID_MAX_VCPU_ID). */
    public int maxVcpus() {
        return maxVcpuId == -1 ? 0 : maxVcpuId + 1;
    }

    /** XEN_DOMINF_shutdown's reason, bits 16..23 of flags. */
    public int shutdownReason() {
        return (int) ((flags >>> 16) & 0xff);
    }

    /** Memory in KiB, as {@code xl list} shows it (tot_pages of 4 KiB). */
    public long memoryKb() {
        return totPages * 4;
    }

    /** The six-letter state column of {@code xl list}: r b p s c d. */
    public String stateLetters() {
        return "" + (has(RUNNING) ? 'r' : '-') + (has(BLOCKED) ? 'b' : '-') + (has(PAUSED) ? 'p' : '-')
                + (has(SHUTDOWN) && shutdownReason() != 2 ? 's' : '-') + (has(SHUTDOWN) && shutdownReason() == 2 ? 'c' : '-')
                + (has(DYING) ? 'd' : '-');
    }
}
