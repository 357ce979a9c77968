package org.xenfork.vmi;

import java.util.Map;

/**
 * Builds a guest's page tables in a {@link SparsePhysicalMemory}, the way a guest kernel
 * would: {@link #map} a page of a size the mode has, and the tables above it are made as
 * needed (their frames taken from {@link #REGION}). The shape of each mode (which bits index
 * which level) is written down here on its own, from the SDM, not taken from the walker.
 */
final class PageTables {
    /** Where table frames are taken from: below 4 GiB, as 32-bit paging and PAE's CR3 need. */
    static final long REGION = 0x8000_0000L;
    static final long REGION_END = 0x9000_0000L;
    /** PAE's PDPT is 32-byte aligned, not page-aligned: put it mid-page so CR3 bits 11:5 count. */
    static final long PAE_PDPT_OFFSET = 0x7e0;

    /** Per mode: the shift of each level, top first. */
    static final Map<PagingMode, int[]> SHIFTS = Map.of(
            PagingMode.BIT32, new int[] {22, 12},
            PagingMode.PAE, new int[] {30, 21, 12},
            PagingMode.LEVEL4, new int[] {39, 30, 21, 12},
            PagingMode.LEVEL5, new int[] {48, 39, 30, 21, 12});
    /** Per mode: the index bits of each level, top first. */
    static final Map<PagingMode, int[]> INDEX_BITS = Map.of(
            PagingMode.BIT32, new int[] {10, 10},
            PagingMode.PAE, new int[] {2, 9, 9},
            PagingMode.LEVEL4, new int[] {9, 9, 9, 9},
            PagingMode.LEVEL5, new int[] {9, 9, 9, 9, 9});
    /** Per mode: the SDM's names of the levels, top first. */
    static final Map<PagingMode, PagingLevel[]> LEVELS = Map.of(
            PagingMode.BIT32, new PagingLevel[] {PagingLevel.PDE, PagingLevel.PTE},
            PagingMode.PAE, new PagingLevel[] {PagingLevel.PDPTE, PagingLevel.PDE, PagingLevel.PTE},
            PagingMode.LEVEL4, new PagingLevel[] {PagingLevel.PML4E, PagingLevel.PDPTE, PagingLevel.PDE, PagingLevel.PTE},
            PagingMode.LEVEL5, new PagingLevel[] {PagingLevel.PML5E, PagingLevel.PML4E, PagingLevel.PDPTE, PagingLevel.PDE,
                PagingLevel.PTE});

    final PagingMode mode;
    final SparsePhysicalMemory memory;
    private final long root;
    private long next = REGION;

    PageTables(PagingMode mode, SparsePhysicalMemory memory) {
        this.mode = mode;
        this.memory = memory;
        long frame = newTable();
        this.root = mode == PagingMode.PAE ? frame + PAE_PDPT_OFFSET : frame;
    }

    /** The CR3 value that points at these tables (the top table's address; no flag bits). */
    long cr3() {
        return root;
    }

    int entrySize() {
        return mode == PagingMode.BIT32 ? 4 : 8;
    }

    int levels() {
        return SHIFTS.get(mode).length;
    }

    /** The bytes one entry of level {@code depth} (0 = top) maps. */
    long covers(int depth) {
        return 1L << SHIFTS.get(mode)[depth];
    }

    /** The depth whose entries map {@code size}-byte pages. */
    int depthOf(long size) {
        for (int d = 0; d < levels(); d++) {
            if (covers(d) == size) {
                return d;
            }
        }
        throw new IllegalArgumentException(size + "-byte pages are not a size of " + mode);
    }

    /** Maps the {@code size}-byte page at {@code va} to {@code pa}. */
    void map(long va, long pa, long size) {
        map(va, pa, size, 0);
    }

    /** Maps the {@code size}-byte page at {@code va} to {@code pa}, with {@code flags} added to its leaf entry. */
    void map(long va, long pa, long size, long flags) {
        int leaf = depthOf(size);
        long table = root;
        for (int d = 0; d < leaf; d++) {
            long at = table + index(d, va) * entrySize();
            long e = memory.get(at, entrySize());
            if ((e & 1) == 0) {
                long t = newTable();
                // PAE's PDPTEs reserve RW and US (bits 1, 2); elsewhere a table pointer is P|RW|US.
                e = t | (mode == PagingMode.PAE && d == 0 ? 0x1 : 0x7);
                memory.put(at, e, entrySize());
            }
            table = mode == PagingMode.BIT32 ? e & 0xffff_f000L : e & 0x000f_ffff_ffff_f000L;
        }
        long entry;
        if (size == 4096) {
            entry = pa | 0x3;
        } else if (mode == PagingMode.BIT32) {
            entry = (pa & 0xffc0_0000L) | ((pa >>> 32) & 0xff) << 13 | 0x83;
        } else {
            entry = pa | 0x83;
        }
        memory.put(table + index(leaf, va) * entrySize(), entry | flags, entrySize());
    }

    /** The guest-physical address of {@code va}'s entry at level {@code depth}; the tables above must exist. */
    long entryAddress(int depth, long va) {
        long table = root;
        for (int d = 0; d < depth; d++) {
            long e = memory.get(table + index(d, va) * entrySize(), entrySize());
            table = mode == PagingMode.BIT32 ? e & 0xffff_f000L : e & 0x000f_ffff_ffff_f000L;
        }
        return table + index(depth, va) * entrySize();
    }

    long entry(int depth, long va) {
        return memory.get(entryAddress(depth, va), entrySize());
    }

    void set(int depth, long va, long value) {
        memory.put(entryAddress(depth, va), value, entrySize());
    }

    long index(int depth, long va) {
        return (va >>> SHIFTS.get(mode)[depth]) & ((1L << INDEX_BITS.get(mode)[depth]) - 1);
    }

    private long newTable() {
        long t = next;
        next += 4096;
        if (next > REGION_END) {
            throw new IllegalStateException("test page tables outgrew their region");
        }
        memory.add(t);
        return t;
    }
}
