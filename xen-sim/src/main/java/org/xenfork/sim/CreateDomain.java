package org.xenfork.sim;

import java.util.Arrays;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * The checks XEN_DOMCTL_createdomain runs on {@code u.createdomain} before a
 * domain exists, in Xen's order: {@code sanitise_domain_config} and
 * {@code arch_sanitise_domain_config} (EINVAL), then {@code arch_domain_create}'s
 * emulation flags (EINVAL for unknown bits, EOPNOTSUPP for a combination
 * {@code emulation_flags_ok} refuses), {@code grant_table_init}'s version
 * (EINVAL, 4.16+) and the cpupool (ESRCH, 4.17+).
 *
 * <p>The fields come from the release's layout, which is how the per-release
 * differences show: {@code grant_opts} is checked where the release has it,
 * {@code vmtrace_size} and {@code arch.misc_flags} likewise. Not modelled:
 * grant and maptrack frame limits, {@code max_evtchn_port}, altp2m options,
 * the PV vCPU limit, XSM labels.
 */
final class CreateDomain {
    /** public/hvm/hvm_info_table.h. */
    private static final long HVM_MAX_VCPUS = 128;
    /** GNTTAB_MAX_VERSION on x86, the default {@code opt_gnttab_max_version}. */
    private static final long GNTTAB_MAX_VERSION = 2;
    /** The only cpupool of the simulated host. */
    private static final long CPUPOOL0 = 0;

    private final Host host;
    private final boolean emuPirqOptional;
    private final Leaf ssidref;
    private final int handleOffset;
    private final int handleSize;
    private final Leaf flags;
    private final Leaf iommuOpts;
    private final Leaf maxVcpus;
    private final Leaf grantOpts;
    private final Leaf vmtraceSize;
    private final Leaf cpupoolId;
    private final Leaf emulationFlags;
    private final Leaf miscFlags;
    private final long cdfKnown;
    private final long cdfHvm;
    private final long cdfHap;
    private final long cdfIommu;
    private final long cdfOosOff;
    private final long cdfS3Integrity;
    private final Long cdfNestedVirt;
    private final Long cdfVpmu;
    private final long iommuNoSharept;
    private final long grantVersionMask;
    private final long emuAll;
    private final long emuLapic;
    private final long emuPit;
    private final long emuVpci;
    private final long emuUsePirq;
    private final long msrRelaxed;

    CreateDomain(Abi abi, Host host) {
        this.host = host;
        // 4.19 made XEN_X86_EMU_USE_PIRQ user-selectable for HVM domUs (emulation_flags_ok).
        this.emuPirqOptional = abi.release().atLeast(4, 19);
        StructLayout domctl = abi.struct("xen_domctl");
        String p = "u.createdomain.";
        this.ssidref = domctl.leaf(p + "ssidref");
        this.handleOffset = domctl.field(p + "handle").orElseThrow().offset();
        this.handleSize = domctl.field(p + "handle").orElseThrow().size();
        this.flags = domctl.leaf(p + "flags");
        this.iommuOpts = domctl.leaf(p + "iommu_opts");
        this.maxVcpus = domctl.leaf(p + "max_vcpus");
        this.grantOpts = optional(domctl, p + "grant_opts");
        this.vmtraceSize = optional(domctl, p + "vmtrace_size");
        this.cpupoolId = optional(domctl, p + "cpupool_id");
        this.emulationFlags = domctl.leaf(p + "arch.emulation_flags");
        this.miscFlags = optional(domctl, p + "arch.misc_flags");
        long cdfMax = abi.constant("XEN_DOMCTL_CDF_MAX");
        this.cdfKnown = (cdfMax << 1) - 1;
        this.cdfHvm = abi.constant("XEN_DOMCTL_CDF_hvm");
        this.cdfHap = abi.constant("XEN_DOMCTL_CDF_hap");
        this.cdfIommu = abi.constant("XEN_DOMCTL_CDF_iommu");
        this.cdfOosOff = abi.constant("XEN_DOMCTL_CDF_oos_off");
        this.cdfS3Integrity = abi.constant("XEN_DOMCTL_CDF_s3_integrity");
        this.cdfNestedVirt = abi.findConstant("XEN_DOMCTL_CDF_nested_virt").orElse(null);
        this.cdfVpmu = abi.findConstant("XEN_DOMCTL_CDF_vpmu").orElse(null);
        this.iommuNoSharept = abi.constant("XEN_DOMCTL_IOMMU_no_sharept");
        this.grantVersionMask = grantOpts == null ? 0 : abi.constant("XEN_DOMCTL_GRANT_version_mask");
        this.emuAll = abi.constant("XEN_X86_EMU_ALL");
        this.emuLapic = abi.constant("XEN_X86_EMU_LAPIC");
        this.emuPit = abi.constant("XEN_X86_EMU_PIT");
        this.emuVpci = abi.constant("XEN_X86_EMU_VPCI");
        this.emuUsePirq = abi.constant("XEN_X86_EMU_USE_PIRQ");
        this.msrRelaxed = miscFlags == null ? 0 : abi.constant("XEN_X86_MSR_RELAXED");
    }

    /**
     * Checks {@code op}'s createdomain member and returns the new domain's
     * configuration, or throws the errno Xen would return. Like
     * {@code arch_sanitise_domain_config}, it sets CDF_oos_off in {@code op}
     * for a PV domain (the toolstack sees that in the copied-back struct).
     */
    DomainParams check(byte[] op) {
        long f = flags.read(op, 0);
        boolean hvm = (f & cdfHvm) != 0;
        boolean hap = (f & cdfHap) != 0;
        long vcpus = maxVcpus.read(op, 0);
        // sanitise_domain_config
        XenError.failIf((f & ~cdfKnown) != 0, Errno.EINVAL);
        XenError.failIf(grantOpts != null && (grantOpts.read(op, 0) & ~grantVersionMask) != 0, Errno.EINVAL);
        XenError.failIf(vcpus < 1, Errno.EINVAL);
        XenError.failIf(hap && !hvm, Errno.EINVAL);
        if ((f & cdfIommu) != 0) {
            XenError.failIf((iommuOpts.read(op, 0) & ~iommuNoSharept) != 0, Errno.EINVAL);
            XenError.failIf(!host.iommu(), Errno.EINVAL);
        } else {
            XenError.failIf(iommuOpts.read(op, 0) != 0, Errno.EINVAL);
        }
        // The simulated host has no Intel PT (vmtrace_available) and no vPMU enabled.
        XenError.failIf(vmtraceSize != null && vmtraceSize.read(op, 0) != 0, Errno.EINVAL);
        XenError.failIf(cdfVpmu != null && (f & cdfVpmu) != 0, Errno.EINVAL);
        // arch_sanitise_domain_config (x86)
        XenError.failIf(hvm && vcpus > HVM_MAX_VCPUS, Errno.EINVAL);
        XenError.failIf((f & cdfS3Integrity) != 0, Errno.EINVAL); // no CONFIG_TBOOT
        XenError.failIf(hap && !host.hap(), Errno.EINVAL);
        if (!hvm) {
            f |= cdfOosOff;
            flags.write(op, 0, f);
        }
        XenError.failIf(cdfNestedVirt != null && (f & cdfNestedVirt) != 0 && !hap, Errno.EINVAL);
        XenError.failIf(miscFlags != null && (miscFlags.read(op, 0) & ~msrRelaxed) != 0, Errno.EINVAL);
        // arch_domain_create
        long emu = emulationFlags.read(op, 0);
        XenError.failIf((emu & ~emuAll) != 0, Errno.EINVAL);
        XenError.failIf(!emulationFlagsOk(hvm, emu), Errno.EOPNOTSUPP);
        // grant_table_init (4.16+): the version in the low nibble must be 1..max.
        if (grantOpts != null) {
            long version = grantOpts.read(op, 0) & grantVersionMask;
            XenError.failIf(version == 0 || version > GNTTAB_MAX_VERSION, Errno.EINVAL);
        }
        // sched_init_domain -> cpupool_add_domain (4.17+)
        XenError.failIf(cpupoolId != null && cpupoolId.read(op, 0) != CPUPOOL0, Errno.ESRCH);
        byte[] handle = Arrays.copyOfRange(op, handleOffset, handleOffset + handleSize);
        return new DomainParams(handle, (int) ssidref.read(op, 0), (int) f, (int) vcpus, (int) emu);
    }

    /**
     * {@code emulation_flags_ok} for a domU: an HVM guest emulates everything
     * but vPCI (USE_PIRQ optional from 4.19) or, as PVH, only the local APIC;
     * a PV guest nothing or the PIT.
     */
    boolean emulationFlagsOk(boolean hvm, long emu) {
        if (!hvm) {
            return emu == 0 || emu == emuPit;
        }
        long fullHvm = emuAll & ~emuVpci;
        if (emuPirqOptional) {
            return (emu & ~emuUsePirq) == (fullHvm & ~emuUsePirq) || emu == emuLapic;
        }
        return emu == fullHvm || emu == emuLapic;
    }

    private static Leaf optional(StructLayout s, String path) {
        return s.field(path).isPresent() ? s.leaf(path) : null;
    }
}
