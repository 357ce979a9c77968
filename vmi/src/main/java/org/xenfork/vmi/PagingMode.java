package org.xenfork.vmi;

import java.util.List;

/**
 * How a vCPU turns a linear (guest-virtual) address into a guest-physical one: the SDM's
 * paging modes (vol. 3A, 4.1.1), chosen by CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57
 * ({@link PagingRegisters#mode}). Each mode has its levels, top first; a level covers
 * {@code 1 << shift} bytes and is indexed by {@code indexBits} bits of the address above
 * that shift.
 */
public enum PagingMode {
    /** CR0.PG clear: a linear address is the physical address (real mode, unpaged protected mode). */
    NONE("no paging", 32, 0, List.of()),
    /** CR0.PG set, CR4.PAE clear: 4-byte entries, two levels; 4 MiB pages with CR4.PSE. */
    BIT32("32-bit paging", 32, 4, List.of(
            new Step(PagingLevel.PDE, 22, 10),
            new Step(PagingLevel.PTE, 12, 10))),
    /** CR4.PAE set, EFER.LMA clear: four PDPTEs at CR3, then 8-byte PDEs and PTEs; 2 MiB pages. */
    PAE("PAE paging", 32, 8, List.of(
            new Step(PagingLevel.PDPTE, 30, 2),
            new Step(PagingLevel.PDE, 21, 9),
            new Step(PagingLevel.PTE, 12, 9))),
    /** EFER.LMA set, CR4.LA57 clear: 48-bit canonical addresses; 1 GiB and 2 MiB pages. */
    LEVEL4("4-level paging", 48, 8, List.of(
            new Step(PagingLevel.PML4E, 39, 9),
            new Step(PagingLevel.PDPTE, 30, 9),
            new Step(PagingLevel.PDE, 21, 9),
            new Step(PagingLevel.PTE, 12, 9))),
    /** EFER.LMA and CR4.LA57 set: 57-bit canonical addresses (Xen lets no HVM guest set LA57 yet). */
    LEVEL5("5-level paging", 57, 8, List.of(
            new Step(PagingLevel.PML5E, 48, 9),
            new Step(PagingLevel.PML4E, 39, 9),
            new Step(PagingLevel.PDPTE, 30, 9),
            new Step(PagingLevel.PDE, 21, 9),
            new Step(PagingLevel.PTE, 12, 9)));

    /** One level of the walk: its entry, the address bits below it, and how many bits index its table. */
    public record Step(PagingLevel level, int shift, int indexBits) {
        /** The bytes of linear address space one entry of this level maps. */
        public long covers() {
            return 1L << shift;
        }

        /** The index of {@code linear}'s entry in this level's table. */
        public int index(long linear) {
            return (int) ((linear >>> shift) & ((1L << indexBits) - 1));
        }
    }

    private final String sdmName;
    private final int linearBits;
    private final int entrySize;
    private final List<Step> steps;

    PagingMode(String sdmName, int linearBits, int entrySize, List<Step> steps) {
        this.sdmName = sdmName;
        this.linearBits = linearBits;
        this.entrySize = entrySize;
        this.steps = steps;
    }

    /**
     * Bits of a linear address: 32 for the 32-bit modes (an address at or above 4 GiB is none);
     * 48 or 57 for long mode, where the bits above must copy the top one (canonical).
     */
    public int linearBits() {
        return linearBits;
    }

    /** Whether addresses must be canonical (the long-mode modes) rather than 32-bit. */
    public boolean isLongMode() {
        return this == LEVEL4 || this == LEVEL5;
    }

    /** Bytes per paging-structure entry: 4 in 32-bit paging, 8 otherwise (0 without paging). */
    public int entrySize() {
        return entrySize;
    }

    /** The levels, top first (none without paging). */
    public List<Step> steps() {
        return steps;
    }

    /** The SDM's name: {@code 4-level paging}. */
    @Override
    public String toString() {
        return sdmName;
    }
}
