package org.xenfork.privcmd;

/** {@code XEN_SYSCTL_physinfo}: the host, as {@code xl info} summarises it. */
public record PhysInfo(int threadsPerCore, int coresPerSocket, int nrCpus, int maxCpuId, int nrNodes, long cpuKhz,
                       long capabilities, long totalPages, long freePages, long scrubPages) {
    public static final long CAP_HVM = 0x1;
    public static final long CAP_PV = 0x2;
    public static final long CAP_DIRECTIO = 0x4;
    public static final long CAP_HAP = 0x8;
    public static final long CAP_SHADOW = 0x10;

    public long totalMemoryMb() {
        return totalPages * 4 / 1024;
    }

    public long freeMemoryMb() {
        return freePages * 4 / 1024;
    }

    /** Capability names in the order and spelling of {@code xl info}'s virt_caps. */
    public String capabilityNames() {
        boolean directio = (capabilities & CAP_DIRECTIO) != 0;
        StringBuilder sb = new StringBuilder();
        add(sb, CAP_PV, "pv");
        add(sb, CAP_HVM, "hvm");
        if (directio && (capabilities & CAP_HVM) != 0) {
            sb.append(sb.length() == 0 ? "" : " ").append("hvm_directio");
        }
        if (directio && (capabilities & CAP_PV) != 0) {
            sb.append(sb.length() == 0 ? "" : " ").append("pv_directio");
        }
        add(sb, CAP_HAP, "hap");
        add(sb, CAP_SHADOW, "shadow");
        add(sb, 0x20, "iommu_hap_pt_share");
        add(sb, 0x40, "vmtrace");
        add(sb, 0x80, "vpmu");
        add(sb, 0x100, "gnttab-v1");
        add(sb, 0x200, "gnttab-v2");
        return sb.toString();
    }

    private void add(StringBuilder sb, long bit, String name) {
        if ((capabilities & bit) != 0) {
            sb.append(sb.length() == 0 ? "" : " ").append(name);
        }
    }
}
