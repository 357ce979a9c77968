package org.xenfork.vmi;

/**
 * One paging-structure entry a walk read: its level, where it lies in guest-physical memory,
 * its value as the guest wrote it (never changed by the walk), and how much of the linear
 * address space it maps.
 *
 * @param covers bytes of linear address space this entry maps (a PDE of PAE or long-mode
 *               paging: 2 MiB, whether it is a 2 MiB page or points to a page table)
 * @param leaf   whether the entry maps a page ({@code covers} is then the page size) rather
 *               than pointing to the next level's table
 */
public record PagingEntry(PagingLevel level, long address, long value, long covers, boolean leaf) {

    /** {@code PDE at 0x3008 = 0x200083 (2 MiB page)}. */
    @Override
    public String toString() {
        return level + " at " + PagingRegisters.hex(address) + " = " + PagingRegisters.hex(value)
                + (leaf ? " (" + Translation.size(covers) + " page)" : "");
    }
}
