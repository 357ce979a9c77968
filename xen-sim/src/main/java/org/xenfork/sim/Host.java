package org.xenfork.sim;

import java.util.List;

/**
 * The machine and the hypervisor build the simulator pretends to be, fixed at
 * {@link SimXen.Builder#build()}.
 *
 * @param vendor        Intel (VMX) or AMD (SVM): forks need VMX
 * @param hap           EPT/NPT available ({@code hvm_hap_supported()})
 * @param iommu         an IOMMU is enabled ({@code iommu_enabled})
 * @param memSharing    {@code CONFIG_MEM_SHARING} built in
 * @param cpus          physical CPUs online
 * @param memoryKb      host RAM
 * @param cpuKhz        TSC frequency; also the default guest {@code gtsc_khz}
 * @param cpuidLeaf1Eax family/model/stepping, as written into HVM save headers
 * @param hwCap         the first eight words of {@code boot_cpu_data.x86_capability}
 * @param extraVersion  {@code XENVER_extraversion}, e.g. {@code .0}
 * @param commandLine   Xen's command line
 */
record Host(SimXen.CpuVendor vendor, boolean hap, boolean iommu, boolean memSharing, int cpus, long memoryKb,
            int cpuKhz, int cpuidLeaf1Eax, List<Integer> hwCap, String extraVersion, String commandLine) {

    /** {@code cpu_has_vmx}: what mem_sharing_control checks before anything else. */
    boolean hasVmx() {
        return vendor == SimXen.CpuVendor.INTEL;
    }
}
