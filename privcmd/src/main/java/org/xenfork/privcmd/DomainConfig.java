package org.xenfork.privcmd;

/**
 * What {@code XEN_DOMCTL_createdomain} takes, independent of release. Fields a
 * release's layout lacks (grant_opts before 4.16, vmtrace_size before 4.15,
 * cpupool_id before 4.17, misc_flags before 4.15) must stay 0 there.
 */
public record DomainConfig(long ssidref, byte[] handle, long flags, long iommuOpts, int maxVcpus, int maxEvtchnPort,
                           int maxGrantFrames, int maxMaptrackFrames, long grantOpts, long vmtraceSize, long cpupoolId,
                           long emulationFlags, long miscFlags) {
    public static final long CDF_HVM = 1L << 0;
    public static final long CDF_HAP = 1L << 1;
    public static final long CDF_OOS_OFF = 1L << 3;
    public static final long CDF_IOMMU = 1L << 5;
    public static final long EMU_ALL = 0x7ff;
    public static final long EMU_VPCI = 0x400;

    public DomainConfig {
        handle = handle == null ? new byte[16] : handle.clone();
        if (handle.length != 16) {
            throw new IllegalArgumentException("a domain handle is 16 bytes, not " + handle.length);
        }
    }
}
