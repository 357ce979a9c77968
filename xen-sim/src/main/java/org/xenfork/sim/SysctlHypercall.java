package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_sysctl} (35): {@code do_sysctl} in xen/common/sysctl.c
 * for XEN_SYSCTL_getdomaininfolist and XEN_SYSCTL_physinfo; any other command
 * is ENOSYS (the x86 default). The 136-byte {@code xen_sysctl} is copied in
 * (EFAULT), its {@code interface_version} checked (EACCES), and copied back
 * only on success.
 */
final class SysctlHypercall {
    /** MAX_NUMNODES - 1 on x86 (NODES_SHIFT 6), what physinfo reports as max_node_id. */
    private static final long MAX_NODE_ID = 63;

    private final DomainTable domains;
    private final GetDomainInfoReply domainInfo;
    private final Host host;
    private final int size;
    private final long interfaceVersion;
    private final Leaf cmdLeaf;
    private final Leaf versionLeaf;
    private final long getdomaininfolist;
    private final long physinfo;
    private final Leaf firstDomain;
    private final Leaf maxDomains;
    private final Leaf buffer;
    private final Leaf numDomains;
    private final Physinfo physinfoLeaves;
    private final long capabilities;

    /** The xen_sysctl_physinfo fields, resolved once (4.17 moved everything from total_pages on by 8). */
    private record Physinfo(Leaf threadsPerCore, Leaf coresPerSocket, Leaf nrCpus, Leaf maxCpuId, Leaf nrNodes,
                            Leaf maxNodeId, Leaf cpuKhz, Leaf capabilities, Leaf totalPages, Leaf freePages,
                            Leaf scrubPages, Leaf outstandingPages, Leaf maxMfn, Leaf[] hwCap) {
        static Physinfo of(StructLayout s) {
            String p = "u.physinfo.";
            int words = s.field(p + "hw_cap").orElseThrow().size() / 4;
            Leaf[] hwCap = new Leaf[words];
            for (int i = 0; i < words; i++) {
                hwCap[i] = s.leaf(p + "hw_cap[" + i + "]");
            }
            return new Physinfo(s.leaf(p + "threads_per_core"), s.leaf(p + "cores_per_socket"),
                    s.leaf(p + "nr_cpus"), s.leaf(p + "max_cpu_id"), s.leaf(p + "nr_nodes"),
                    s.leaf(p + "max_node_id"), s.leaf(p + "cpu_khz"), s.leaf(p + "capabilities"),
                    s.leaf(p + "total_pages"), s.leaf(p + "free_pages"), s.leaf(p + "scrub_pages"),
                    s.leaf(p + "outstanding_pages"), s.leaf(p + "max_mfn"), hwCap);
        }
    }

    SysctlHypercall(Abi abi, DomainTable domains, GetDomainInfoReply domainInfo, Host host) {
        this.domains = domains;
        this.domainInfo = domainInfo;
        this.host = host;
        StructLayout sysctl = abi.struct("xen_sysctl");
        this.size = sysctl.size();
        this.interfaceVersion = abi.constant("XEN_SYSCTL_INTERFACE_VERSION");
        this.cmdLeaf = sysctl.leaf("cmd");
        this.versionLeaf = sysctl.leaf("interface_version");
        this.getdomaininfolist = abi.constant("XEN_SYSCTL_getdomaininfolist");
        this.physinfo = abi.constant("XEN_SYSCTL_physinfo");
        this.firstDomain = sysctl.leaf("u.getdomaininfolist.first_domain");
        this.maxDomains = sysctl.leaf("u.getdomaininfolist.max_domains");
        this.buffer = sysctl.leaf("u.getdomaininfolist.buffer");
        this.numDomains = sysctl.leaf("u.getdomaininfolist.num_domains");
        this.physinfoLeaves = Physinfo.of(sysctl);
        this.capabilities = physcap(abi, host);
    }

    int size() {
        return size;
    }

    Leaf cmdLeaf() {
        return cmdLeaf;
    }

    long call(GuestMemory mem, long address) {
        byte[] op = mem.copyFromGuest(address, size);
        if (versionLeaf.read(op, 0) != interfaceVersion) {
            return -Errno.EACCES;
        }
        long cmd = cmdLeaf.read(op, 0);
        if (cmd == getdomaininfolist) {
            getDomainInfoList(mem, op);
        } else if (cmd == physinfo) {
            physInfo(op);
        } else {
            return -Errno.ENOSYS;
        }
        mem.copyToGuest(address, op);
        return 0;
    }

    /**
     * Domains with id ≥ first_domain, in id order, at most max_domains, each
     * written at {@code buffer + i * sizeof(xen_domctl_getdomaininfo)} (104 or
     * 112 bytes by release); num_domains says how many. A buffer Xen cannot
     * write is EFAULT and nothing is copied back.
     */
    private void getDomainInfoList(GuestMemory mem, byte[] op) {
        long first = firstDomain.read(op, 0);
        long max = maxDomains.read(op, 0);
        long base = buffer.read(op, 0);
        int stride = domainInfo.size();
        long n = 0;
        for (SimDomain d : domains.all()) {
            if (d.domid < first) {
                continue;
            }
            if (n == max) {
                break;
            }
            mem.copyToGuest(base + n * stride, domainInfo.encode(d));
            n++;
        }
        numDomains.write(op, 0, n);
    }

    /** physinfo: the simulated host's topology and memory; field set per release layout. */
    private void physInfo(byte[] op) {
        Physinfo p = physinfoLeaves;
        int threadsPerCore = host.cpus() % 2 == 0 ? 2 : 1;
        long totalPages = host.memoryKb() / 4;
        long used = 0;
        for (SimDomain d : domains.all()) {
            // Private pages belong to their domain; a nominated page stays in
            // use (owned by dom_cow) and is counted once, with its origin domain.
            used += d.p2m.totPages() + (d.parent == null ? d.p2m.shrPages() : 0);
        }
        p.threadsPerCore().write(op, 0, threadsPerCore);
        p.coresPerSocket().write(op, 0, host.cpus() / threadsPerCore);
        p.nrCpus().write(op, 0, host.cpus());
        p.maxCpuId().write(op, 0, host.cpus() - 1);
        p.nrNodes().write(op, 0, 1);
        p.maxNodeId().write(op, 0, MAX_NODE_ID);
        p.cpuKhz().write(op, 0, host.cpuKhz());
        p.capabilities().write(op, 0, capabilities);
        p.totalPages().write(op, 0, totalPages);
        p.freePages().write(op, 0, Math.max(0, totalPages - used));
        p.scrubPages().write(op, 0, 0);
        p.outstandingPages().write(op, 0, 0);
        p.maxMfn().write(op, 0, totalPages - 1);
        for (int i = 0; i < p.hwCap().length && i < host.hwCap().size(); i++) {
            p.hwCap()[i].write(op, 0, host.hwCap().get(i) & 0xffff_ffffL);
        }
    }

    /**
     * arch_do_physinfo and do_sysctl: hvm, pv, hap if the host has it, shadow
     * (the simulated build has CONFIG_SHADOW_PAGING), directio with an IOMMU,
     * and from 4.16 both grant table versions.
     */
    private static long physcap(Abi abi, Host host) {
        long caps = abi.constant("XEN_SYSCTL_PHYSCAP_hvm") | abi.constant("XEN_SYSCTL_PHYSCAP_pv")
                | abi.constant("XEN_SYSCTL_PHYSCAP_shadow");
        if (host.hap()) {
            caps |= abi.constant("XEN_SYSCTL_PHYSCAP_hap");
        }
        if (host.iommu()) {
            caps |= abi.constant("XEN_SYSCTL_PHYSCAP_directio");
        }
        caps |= abi.findConstant("XEN_SYSCTL_PHYSCAP_gnttab_v1").orElse(0L);
        caps |= abi.findConstant("XEN_SYSCTL_PHYSCAP_gnttab_v2").orElse(0L);
        return caps;
    }
}
