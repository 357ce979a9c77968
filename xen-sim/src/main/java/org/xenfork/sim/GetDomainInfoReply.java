package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * Fills a {@code struct xen_domctl_getdomaininfo} of the release (104 bytes up
 * to 4.15, 112 from 4.16) the way {@code getdomaininfo()} in
 * xen/common/domctl.c and {@code arch_get_domain_info()} do. Used by
 * XEN_DOMCTL_getdomaininfo and XEN_SYSCTL_getdomaininfolist alike.
 *
 * <p>Flags: {@code blocked} only if every online vCPU is blocked,
 * {@code running} if one is on a CPU, neither with no vCPU online;
 * {@code paused} follows the controller's pause count only; {@code dying}
 * is set once the domain is dead.
 */
final class GetDomainInfoReply {
    /** hap_paddr_bits of the simulated host (a typical Intel server's 46-bit physical addresses). */
    private static final int HAP_PADDR_BITS = 46;

    private final Host host;
    private final StructLayout layout;
    private final Leaf domain;
    private final Leaf flags;
    private final Leaf totPages;
    private final Leaf maxPages;
    private final Leaf shrPages;
    private final Leaf pagedPages;
    private final Leaf sharedInfoFrame;
    private final Leaf cpuTime;
    private final Leaf nrOnlineVcpus;
    private final Leaf maxVcpuId;
    private final Leaf ssidref;
    private final int handleOffset;
    private final Leaf cpupool;
    private final Leaf gpaddrBits;
    private final Leaf emulationFlags;
    private final long dying;
    private final long hvmGuest;
    private final long paused;
    private final long blocked;
    private final long running;
    private final long xsDomain;
    private final long hap;
    private final long invalidMaxVcpuId;
    private final long cdfXsDomain;

    GetDomainInfoReply(Abi abi, Host host) {
        this.host = host;
        this.layout = abi.struct("xen_domctl_getdomaininfo");
        this.domain = layout.leaf("domain");
        this.flags = layout.leaf("flags");
        this.totPages = layout.leaf("tot_pages");
        this.maxPages = layout.leaf("max_pages");
        this.shrPages = layout.leaf("shr_pages");
        this.pagedPages = layout.leaf("paged_pages");
        this.sharedInfoFrame = layout.leaf("shared_info_frame");
        this.cpuTime = layout.leaf("cpu_time");
        this.nrOnlineVcpus = layout.leaf("nr_online_vcpus");
        this.maxVcpuId = layout.leaf("max_vcpu_id");
        this.ssidref = layout.leaf("ssidref");
        this.handleOffset = layout.field("handle").orElseThrow().offset();
        this.cpupool = layout.leaf("cpupool");
        // gpaddr_bits exists from 4.16.
        this.gpaddrBits = layout.field("gpaddr_bits").isPresent() ? layout.leaf("gpaddr_bits") : null;
        this.emulationFlags = layout.leaf("arch_config.emulation_flags");
        this.dying = abi.constant("XEN_DOMINF_dying");
        this.hvmGuest = abi.constant("XEN_DOMINF_hvm_guest");
        this.paused = abi.constant("XEN_DOMINF_paused");
        this.blocked = abi.constant("XEN_DOMINF_blocked");
        this.running = abi.constant("XEN_DOMINF_running");
        this.xsDomain = abi.constant("XEN_DOMINF_xs_domain");
        this.hap = abi.constant("XEN_DOMINF_hap");
        this.invalidMaxVcpuId = abi.constant("XEN_INVALID_MAX_VCPU_ID");
        this.cdfXsDomain = abi.constant("XEN_DOMCTL_CDF_xs_domain");
    }

    /** {@code sizeof(struct xen_domctl_getdomaininfo)}: also the getdomaininfolist stride. */
    int size() {
        return layout.size();
    }

    byte[] encode(SimDomain d) {
        byte[] info = new byte[layout.size()];
        int online = d.onlineVcpus.cardinality();
        long f = 0;
        if (online > 0) {
            f |= d.idle ? blocked : 0;
            f |= d.isRunning() ? running : 0;
        }
        f |= d.isAlive() ? 0 : dying;
        f |= d.controllerPauseCount > 0 ? paused : 0;
        f |= (d.cdfFlags & cdfXsDomain) != 0 ? xsDomain : 0;
        f |= d.hvm ? hvmGuest : 0;
        f |= d.hvm && d.hap ? hap : 0;
        domain.write(info, 0, d.domid);
        flags.write(info, 0, f);
        totPages.write(info, 0, d.p2m.totPages());
        maxPages.write(info, 0, d.maxPages);
        // shr_pages is only filled in a CONFIG_MEM_SHARING build.
        shrPages.write(info, 0, host.memSharing() ? d.p2m.shrPages() : 0);
        pagedPages.write(info, 0, d.p2m.pagedPages());
        sharedInfoFrame.write(info, 0, d.sharedInfoFrame);
        cpuTime.write(info, 0, d.cpuTimeNs);
        nrOnlineVcpus.write(info, 0, online);
        maxVcpuId.write(info, 0, d.allocatedVcpus > 0 ? d.allocatedVcpus - 1 : invalidMaxVcpuId);
        ssidref.write(info, 0, d.ssidref);
        System.arraycopy(d.handle, 0, info, handleOffset, d.handle.length);
        cpupool.write(info, 0, 0);
        if (gpaddrBits != null) {
            gpaddrBits.write(info, 0, HAP_PADDR_BITS);
        }
        emulationFlags.write(info, 0, d.emulationFlags);
        return info;
    }
}
