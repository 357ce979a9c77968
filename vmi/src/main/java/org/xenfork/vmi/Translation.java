package org.xenfork.vmi;

import java.util.List;

/**
 * A guest-virtual address translated: the guest-physical address, the paging mode of the
 * vCPU that translated it, and every entry the walk read, top level first (none without
 * paging).
 *
 * @param pageSize the size of the page the address lies in: the leaf entry's {@code covers},
 *                 or 4 KiB without paging (the unit an unpaged range is read in)
 */
public record Translation(long virtualAddress, long physicalAddress, PagingMode mode, List<PagingEntry> entries,
        long pageSize) {
    /** The size used without paging, where no entry gives one. */
    public static final long SMALL_PAGE = 4096;

    public Translation {
        entries = List.copyOf(entries);
    }

    /** The guest-physical address of the page's first byte. */
    public long pageBase() {
        return physicalAddress & -pageSize;
    }

    /** {@code 4 KiB}, {@code 2 MiB}, {@code 1 GiB}. */
    static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return (bytes >> 30) + " GiB";
        }
        return bytes >= 1L << 20 ? (bytes >> 20) + " MiB" : (bytes >> 10) + " KiB";
    }

    /** {@code 0xffffffff81000000 -> 0x1000000 (4-level paging, 2 MiB page): PML4E at ... = ..., ...}. */
    @Override
    public String toString() {
        return PagingRegisters.hex(virtualAddress) + " -> " + PagingRegisters.hex(physicalAddress) + " (" + mode
                + (entries.isEmpty() ? ", identity" : ", " + size(pageSize) + " page") + ")"
                + (entries.isEmpty() ? "" : ": " + entries);
    }
}
