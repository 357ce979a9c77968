package org.xenfork.privcmd;

/**
 * What {@code XEN_DOMCTL_createdomain} takes, independent of release. Fields a
 * release's layout lacks (grant_opts before 4.16, vmtrace_size before 4.15,
 * cpupool_id before 4.17, misc_flags before 4.15) must stay 0 there. Flags are
 * the release's {@code XEN_DOMCTL_CDF_*} and {@code XEN_X86_EMU_*} bits, from
 * {@link Hypervisor#abi()}.
 */
public record DomainConfig(long ssidref, byte[] handle, long flags, long iommuOpts, int maxVcpus, int maxEvtchnPort,
                           int maxGrantFrames, int maxMaptrackFrames, long grantOpts, long vmtraceSize, long cpupoolId,
                           long emulationFlags, long miscFlags) {

    public DomainConfig {
        handle = handle == null ? new byte[16] : handle.clone();
        if (handle.length != 16) {
            throw new IllegalArgumentException("a domain handle is 16 bytes, not " + handle.length);
        }
    }
}
