package org.xenfork.privcmd;

/** {@code XEN_SYSCTL_physinfo}: the host, as {@code xl info} summarises it. */
public record PhysInfo(int threadsPerCore, int coresPerSocket, int nrCpus, int nrNodes, long cpuKhz,
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

    /** Capability names as {@code xl info}'s virt_caps lists them. */
    public String capabilityNames() {
        StringBuilder sb = new StringBuilder();
        String[] names = {"hvm", "pv", "hvm_directio", "hap", "shadow"};
        for (int i = 0; i < names.length; i++) {
            if ((capabilities & (1L << i)) != 0) {
                sb.append(sb.length() == 0 ? "" : " ").append(names[i]);
            }
        }
        return sb.toString();
    }
}
