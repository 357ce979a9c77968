package org.xenfork.privcmd;

import java.util.List;
import org.xenfork.abi.Abi;

/** {@code XEN_SYSCTL_physinfo}: the host, as {@code xl info} summarises it. */
public record PhysInfo(int threadsPerCore, int coresPerSocket, int nrCpus, int maxCpuId, int nrNodes, long cpuKhz,
                       long capabilities, long totalPages, long freePages, long scrubPages) {
    /** One word of {@code xl info}'s virt_caps and the XEN_SYSCTL_PHYSCAP_* bits (by suffix) it needs. */
    private record VirtCap(String word, List<String> bits) { }

    /** In xl's order and spelling; directio is shown per guest type, as xl does. */
    private static final List<VirtCap> VIRT_CAPS = List.of(
            new VirtCap("pv", List.of("pv")), new VirtCap("hvm", List.of("hvm")),
            new VirtCap("hvm_directio", List.of("hvm", "directio")), new VirtCap("pv_directio", List.of("pv", "directio")),
            new VirtCap("hap", List.of("hap")), new VirtCap("shadow", List.of("shadow")),
            new VirtCap("iommu_hap_pt_share", List.of("iommu_hap_pt_share")), new VirtCap("vmtrace", List.of("vmtrace")),
            new VirtCap("vpmu", List.of("vpmu")), new VirtCap("gnttab-v1", List.of("gnttab_v1")),
            new VirtCap("gnttab-v2", List.of("gnttab_v2")));

    public long totalMemoryMb() {
        return totalPages * 4 / 1024;
    }

    public long freeMemoryMb() {
        return freePages * 4 / 1024;
    }

    /** The capability names of {@code xl info}'s virt_caps, with the bits of {@code abi}'s release. */
    public String capabilityNames(Abi abi) {
        StringBuilder sb = new StringBuilder();
        for (VirtCap cap : VIRT_CAPS) {
            boolean all = true;
            for (String bit : cap.bits()) {
                long mask = abi.findConstant("XEN_SYSCTL_PHYSCAP_" + bit).orElse(0L); // a bit the release lacks is never set
                all &= mask != 0 && (capabilities & mask) != 0;
            }
            if (all) {
                sb.append(sb.length() == 0 ? "" : " ").append(cap.word());
            }
        }
        return sb.toString();
    }
}
