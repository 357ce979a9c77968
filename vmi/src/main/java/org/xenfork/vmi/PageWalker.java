package org.xenfork.vmi;

import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * Translates guest-virtual (linear) addresses through a vCPU's page tables, following the
 * Intel SDM (vol. 3A, chapter 4: 4.3 32-bit, 4.4 PAE, 4.5 4-level and 5-level paging) and
 * the AMD APM (vol. 2, 5.3-5.4), as Xen's own walker does ({@code guest_walk_tables} in
 * {@code xen/arch/x86/mm/guest_walk.c}, reserved bits from
 * {@code xen/arch/x86/include/asm/guest_pt.h}).
 *
 * <p>The walk only reads: it never sets an entry's accessed or dirty bit (a CPU and Xen's
 * walker do), so looking at a guest never changes it. It finds whether a translation exists,
 * not whether an access would be allowed: the user/supervisor, read/write and XD bits,
 * protection keys, SMEP and SMAP are not checked, since a debugger reads what the kernel and
 * every process can reach.
 *
 * <p>An entry stops the walk when it is not present (bit 0 clear) or a bit the SDM reserves
 * for it is set, as the CPU's page walk does (a #PF, with RSVD for the second):
 * <ul>
 *   <li>address bits at or above MAXPHYADDR ({@code maxPhysAddr}): bits 51:M of long-mode
 *       entries, 62:M of PAE PDEs and PTEs, 63:M of PAE PDPTEs; in a 32-bit 4 MiB PDE the
 *       PSE-36 bits 21:(min(M,40)-19);</li>
 *   <li>bit 63 (XD) of every PAE and long-mode entry while EFER.NXE is clear;</li>
 *   <li>PS (bit 7) in a PML5E or PML4E;</li>
 *   <li>bits 2:1 and 8:5 of a PAE PDPTE;</li>
 *   <li>the address bits below a large page's size but above its PAT bit (12): bits 20:13 of a
 *       2 MiB PDE, 29:13 of a 1 GiB PDPTE.</li>
 * </ul>
 * Not checked, because the vCPU's CPUID, which the HVM context does not hold, decides them:
 * 1 GiB pages are taken as supported (Xen's HAP walker honours them on hardware that has
 * them), PSE-36 too (32-bit 4 MiB pages reach 40 bits), and an AMD CPU's reserved PML4E.G
 * (bit 8, ignored by Intel) is not flagged.
 *
 * <p>PAE's four PDPTEs are read from guest memory at CR3 (bits 31:5) on every walk. A CPU
 * loads them into registers when CR3 is written, and the HVM context does not save those
 * registers ({@code struct hvm_hw_cpu} has no PDPTE fields), so memory is the only source;
 * Xen's own walker reads them there too ({@code hap_p2m_ga_to_gfn} maps CR3's frame and
 * offsets it by {@code cr3 & ~(PAGE_MASK | 31)}, {@code xen/arch/x86/mm/hap/guest_walk.c}).
 * A guest that rewrote its PDPT without reloading CR3 still runs with the old PDPTEs; the
 * walk then shows the new ones.
 */
public final class PageWalker {
    /** The SDM's largest MAXPHYADDR, and the default: no bit below 52 counts as reserved for width. */
    public static final int MAX_PHYS_ADDR = 52;
    /** The smallest MAXPHYADDR accepted (32 bits: what a CPU without PAE addresses). */
    public static final int MIN_PHYS_ADDR = 32;
    /** Physical-address bits of a 4 MiB page in 32-bit paging with PSE-36 (SDM 4.3: M is at most 40 there). */
    private static final int PSE36_BITS = 40;

    private static final long PRESENT = 1L;
    private static final long PS = 1L << 7;
    private static final long XD = 1L << 63;
    /** PAE PDPTE bits 2:1 and 8:5 (SDM table 4-8). */
    private static final long PAE_PDPTE_RESERVED = 0x1e6L;

    private final PhysicalMemory memory;
    private final int maxPhysAddr;
    /** Bits M-1:12, where a table or page address lies in a PAE or long-mode entry. */
    private final long addressMask;

    /**
     * A walker that reads page tables from {@code memory}, for a vCPU whose MAXPHYADDR
     * (CPUID leaf 0x80000008, EAX[7:0]) is {@code maxPhysAddr} bits. The HVM context does not
     * record it; {@link #MAX_PHYS_ADDR} (52) is the lenient choice: bits between the guest's
     * real width and 52 are then not reported as reserved.
     */
    public PageWalker(PhysicalMemory memory, int maxPhysAddr) {
        if (maxPhysAddr < MIN_PHYS_ADDR || maxPhysAddr > MAX_PHYS_ADDR) {
            throw new IllegalArgumentException("MAXPHYADDR " + maxPhysAddr + " is not a physical address width an x86 CPU"
                    + " reports: give " + MIN_PHYS_ADDR + " to " + MAX_PHYS_ADDR + " bits (CPUID 0x80000008 EAX[7:0])");
        }
        this.memory = memory;
        this.maxPhysAddr = maxPhysAddr;
        this.addressMask = bits(maxPhysAddr - 1, 12);
    }

    public int maxPhysAddr() {
        return maxPhysAddr;
    }

    /**
     * Translates {@code linear} as the vCPU with {@code cpu}'s registers would.
     *
     * @throws PageWalkException naming the address and, where the walk read entries, the level
     *     and entry it stopped at and why (not present, reserved bits, unreadable table), or that
     *     the address is outside the mode's address space or not canonical
     */
    public Translation translate(PagingRegisters cpu, long linear) throws PageWalkException {
        PagingMode mode = cpu.mode();
        checkAddressSpace(cpu, mode, linear);
        if (mode == PagingMode.NONE) {
            return new Translation(linear, linear, mode, List.of(), Translation.SMALL_PAGE);
        }
        List<PagingEntry> walked = new ArrayList<>(mode.steps().size());
        long table = topTable(cpu, mode);
        for (PagingMode.Step step : mode.steps()) {
            PagingLevel level = step.level();
            long at = table + (long) step.index(linear) * mode.entrySize();
            long entry = readEntry(cpu, mode, linear, walked, level, at);
            if ((entry & PRESENT) == 0) {
                throw stop(cpu, mode, linear, walked, level, at, entry, PageWalkException.Reason.NOT_PRESENT,
                        "is not present (bit 0 clear): the guest maps nothing at this address", null);
            }
            boolean leaf = level == PagingLevel.PTE || isLargePage(cpu, mode, level, entry);
            String reserved = reservedBits(cpu, mode, level, leaf, entry);
            if (reserved != null) {
                throw stop(cpu, mode, linear, walked, level, at, entry, PageWalkException.Reason.RESERVED_BIT,
                        "has reserved bits set: " + reserved + "; the vCPU would take a page fault (RSVD) here: the"
                                + " tables are corrupt or not page tables, or the guest's MAXPHYADDR is more than the "
                                + maxPhysAddr + " bits this walk was given", null);
            }
            walked.add(new PagingEntry(level, at, entry, step.covers(), leaf));
            if (leaf) {
                long size = step.covers();
                long physical = frame(mode, entry, size) | (linear & (size - 1));
                return new Translation(linear, physical, mode, walked, size);
            }
            table = mode == PagingMode.BIT32 ? entry & 0xffff_f000L : entry & addressMask;
        }
        throw new AssertionError("a walk ends at its PTE at the latest");
    }

    private static void checkAddressSpace(PagingRegisters cpu, PagingMode mode, long linear) throws PageWalkException {
        if (!mode.isLongMode()) {
            if ((linear >>> 32) != 0) {
                throw new PageWalkException(where(cpu, mode, linear) + ": not a 32-bit linear address, and outside"
                        + " long mode a vCPU has no other (give an address below 0x100000000)", null, linear,
                        PageWalkException.Reason.OUTSIDE_ADDRESS_SPACE, List.of(), null, 0, null);
            }
            return;
        }
        int top = mode.linearBits() - 1;
        if ((linear << (63 - top)) >> (63 - top) != linear) {
            throw new PageWalkException(where(cpu, mode, linear) + ": not canonical: in " + mode + " bits 63:" + top
                    + " must all equal bit " + top + " (the vCPU would raise #GP before any walk)", null, linear,
                    PageWalkException.Reason.NON_CANONICAL, List.of(), null, 0, null);
        }
    }

    /** The first table: CR3 bits 31:12 (32-bit), 31:5 (PAE's 32-byte PDPT), M-1:12 (long mode). */
    private long topTable(PagingRegisters cpu, PagingMode mode) {
        return switch (mode) {
            case BIT32 -> cpu.cr3() & 0xffff_f000L;
            case PAE -> cpu.cr3() & 0xffff_ffe0L;
            default -> cpu.cr3() & addressMask;
        };
    }

    private static boolean isLargePage(PagingRegisters cpu, PagingMode mode, PagingLevel level, long entry) {
        if ((entry & PS) == 0) {
            return false;
        }
        return switch (level) {
            // Without CR4.PSE, 32-bit paging ignores a PDE's PS bit (SDM 4.3).
            case PDE -> mode != PagingMode.BIT32 || cpu.pse();
            // PAE's PDPTE has no PS (bit 7 is reserved there); in long mode it maps 1 GiB.
            case PDPTE -> mode.isLongMode();
            default -> false;
        };
    }

    /** The guest-physical address of a leaf's page (its frame), without the offset inside it. */
    private long frame(PagingMode mode, long entry, long size) {
        if (mode != PagingMode.BIT32) {
            return entry & addressMask & -size;
        }
        if (size == Translation.SMALL_PAGE) {
            return entry & 0xffff_f000L;
        }
        // A 4 MiB page: bits 31:22 from the PDE's 31:22, bits (M'-1):32 from its 20:13 (PSE-36).
        int highBits = Math.min(maxPhysAddr, PSE36_BITS) - 32;
        return (entry & 0xffc0_0000L) | ((entry >>> 13) & ((1L << highBits) - 1)) << 32;
    }

    /** The reserved bits set in a present entry, named with their rule, or null if there are none. */
    private String reservedBits(PagingRegisters cpu, PagingMode mode, PagingLevel level, boolean leaf, long entry) {
        StringJoiner found = new StringJoiner(", ");
        if (mode == PagingMode.BIT32) {
            if (leaf && level == PagingLevel.PDE) {
                int m = Math.min(maxPhysAddr, PSE36_BITS);
                check(found, entry, bits(21, m - 19), "bits 21:" + (m - 19) + " of a 4 MiB PDE (above MAXPHYADDR "
                        + m + " for PSE-36)");
            }
            return found.length() == 0 ? null : found.toString();
        }
        int top = mode.isLongMode() ? 51 : level == PagingLevel.PDPTE ? 63 : 62;
        if (maxPhysAddr <= top) {
            check(found, entry, bits(top, maxPhysAddr), "bits " + top + ":" + maxPhysAddr + " (above MAXPHYADDR "
                    + maxPhysAddr + (mode.isLongMode() ? "" : " in " + mode) + ")");
        }
        if (!cpu.nxe() && !(mode == PagingMode.PAE && level == PagingLevel.PDPTE)) {
            check(found, entry, XD, "bit 63 (XD while EFER.NXE is clear)");
        }
        if (mode == PagingMode.PAE && level == PagingLevel.PDPTE) {
            check(found, entry, PAE_PDPTE_RESERVED, "bits 2:1 and 8:5 of a PAE PDPTE");
        }
        if (level == PagingLevel.PML5E || level == PagingLevel.PML4E) {
            check(found, entry, PS, "bit 7 (PS) of a " + level);
        }
        if (leaf && level == PagingLevel.PDE) {
            check(found, entry, bits(20, 13), "bits 20:13 of a 2 MiB PDE (below the page's alignment)");
        }
        if (leaf && level == PagingLevel.PDPTE) {
            check(found, entry, bits(29, 13), "bits 29:13 of a 1 GiB PDPTE (below the page's alignment)");
        }
        return found.length() == 0 ? null : found.toString();
    }

    private static void check(StringJoiner found, long entry, long mask, String rule) {
        if ((entry & mask) != 0) {
            found.add(rule + ": " + PagingRegisters.hex(entry & mask));
        }
    }

    /** Bits {@code high} down to {@code low}, inclusive. */
    static long bits(int high, int low) {
        long upTo = high == 63 ? -1L : (1L << (high + 1)) - 1;
        return upTo & -(1L << low);
    }

    /** Reads one entry, little-endian, 4 or 8 bytes. */
    private long readEntry(PagingRegisters cpu, PagingMode mode, long linear, List<PagingEntry> walked,
            PagingLevel level, long at) throws PageWalkException {
        byte[] b = new byte[mode.entrySize()];
        try {
            memory.read(at, b, 0, b.length);
        } catch (GuestMemoryException e) {
            throw stop(cpu, mode, linear, walked, level, at, null, PageWalkException.Reason.TABLE_UNREADABLE,
                    "cannot be read: " + e.getMessage(), e);
        }
        long v = 0;
        for (int i = b.length - 1; i >= 0; i--) {
            v = v << 8 | (b[i] & 0xff);
        }
        return v;
    }

    private static PageWalkException stop(PagingRegisters cpu, PagingMode mode, long linear, List<PagingEntry> walked,
            PagingLevel level, long at, Long entry, PageWalkException.Reason reason, String why, Throwable cause) {
        String message = where(cpu, mode, linear) + ": the " + level + " at guest-physical " + PagingRegisters.hex(at)
                + (entry == null ? "" : " = " + PagingRegisters.hex(entry)) + " " + why
                + (walked.isEmpty() ? "" : " (walked " + walked + ")");
        return new PageWalkException(message, cause, linear, reason, walked, level, at, entry);
    }

    private static String where(PagingRegisters cpu, PagingMode mode, long linear) {
        return "guest-virtual " + PagingRegisters.hex(linear) + " (" + mode + ", CR3 " + PagingRegisters.hex(cpu.cr3())
                + ")";
    }
}
