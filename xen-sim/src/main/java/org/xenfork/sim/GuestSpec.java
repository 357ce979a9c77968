package org.xenfork.sim;

/**
 * A guest for {@link SimXen#addGuest}: a domain as if a toolstack had created,
 * built and booted it (vCPUs online with a running kernel's registers, memory
 * populated, unpaused unless {@link #startPaused()}).
 *
 * <pre>{@code
 * SimDomain debian = xen.addGuest(GuestSpec.hvm("debian", 2, 1 << 20));       // 1 GiB
 * SimDomain parent = xen.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
 * SimDomain noEpt  = xen.addGuest(GuestSpec.hvm("shadow", 1, 65536).withHap(false));
 * }</pre>
 *
 * @param type     HVM (all emulated devices but vPCI), PVH (local APIC only) or PV
 * @param memoryKb RAM, populated as private pages
 * @param hap      HVM/PVH with hardware-assisted paging (the default)
 * @param iommu    created with {@code XEN_DOMCTL_CDF_iommu} (needs a host IOMMU)
 * @param startPaused left paused by the controller, as after {@code xl create -p}
 */
public record GuestSpec(String name, Type type, int vcpus, long memoryKb, boolean hap, boolean iommu,
                        boolean startPaused) {

    /** The kinds of x86 guest Xen's {@code emulation_flags_ok} allows for a domU. */
    public enum Type { HVM, PVH, PV }

    public GuestSpec {
        if (vcpus < 1) {
            throw new IllegalArgumentException("a guest needs at least one vCPU, got " + vcpus);
        }
        if (memoryKb < 4 || memoryKb % 4 != 0) {
            throw new IllegalArgumentException("memoryKb must be a positive multiple of 4 (one page), got "
                    + memoryKb);
        }
        if (hap && type == Type.PV) {
            throw new IllegalArgumentException("HAP is for HVM and PVH guests, not PV");
        }
    }

    public static GuestSpec hvm(String name, int vcpus, long memoryKb) {
        return new GuestSpec(name, Type.HVM, vcpus, memoryKb, true, false, false);
    }

    public static GuestSpec pvh(String name, int vcpus, long memoryKb) {
        return new GuestSpec(name, Type.PVH, vcpus, memoryKb, true, false, false);
    }

    public static GuestSpec pv(String name, int vcpus, long memoryKb) {
        return new GuestSpec(name, Type.PV, vcpus, memoryKb, false, false, false);
    }

    public GuestSpec withHap(boolean withHap) {
        return new GuestSpec(name, type, vcpus, memoryKb, withHap, iommu, startPaused);
    }

    public GuestSpec withIommu(boolean withIommu) {
        return new GuestSpec(name, type, vcpus, memoryKb, hap, withIommu, startPaused);
    }

    /** The same guest, left paused by the controller. */
    public GuestSpec paused() {
        return new GuestSpec(name, type, vcpus, memoryKb, hap, iommu, true);
    }

    boolean isHvmContainer() {
        return type != Type.PV;
    }
}
