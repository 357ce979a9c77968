package org.xenfork.vmi;

/** Register sets that put a vCPU in each paging mode, as a guest kernel would set them up. */
final class Cpus {
    static final long CR0_PAGED = 0x8000_0011L;   // PG, ET, PE
    static final long CR0_UNPAGED = 0x11L;        // ET, PE
    static final long CR4_PSE = 0x10L;
    static final long CR4_PAE = 0x20L;
    static final long CR4_LA57 = 0x1000L;
    static final long EFER_LONG = 0x500L;         // LME, LMA
    static final long EFER_NXE = 0x800L;

    private Cpus() {
    }

    /** Registers for {@code mode}, with CR3 {@code cr3}; 32-bit paging gets CR4.PSE, the others EFER.NXE if asked. */
    static PagingRegisters of(PagingMode mode, long cr3, boolean nxe) {
        long efer = nxe ? EFER_NXE : 0;
        return switch (mode) {
            case NONE -> new PagingRegisters(CR0_UNPAGED, cr3, 0, 0);
            case BIT32 -> new PagingRegisters(CR0_PAGED, cr3, CR4_PSE, 0);
            case PAE -> new PagingRegisters(CR0_PAGED, cr3, CR4_PAE | CR4_PSE, efer);
            case LEVEL4 -> new PagingRegisters(CR0_PAGED, cr3, CR4_PAE, EFER_LONG | efer);
            case LEVEL5 -> new PagingRegisters(CR0_PAGED, cr3, CR4_PAE | CR4_LA57, EFER_LONG | efer);
        };
    }
}
