package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.xenfork.vmi.PageWalkException.Reason;

/**
 * Each rule of the walk on tables written entry by entry at literal addresses (so the
 * addresses in the assertions are worked out by hand, not by the walker's arithmetic).
 */
class PageWalkerTest {
    private final SparsePhysicalMemory mem = new SparsePhysicalMemory();
    private final PageWalker walker = new PageWalker(mem, PageWalker.MAX_PHYS_ADDR);

    // ---- no paging ----

    @Test
    void withoutPagingAnAddressIsItsPhysicalAddressAndNothingIsRead() throws Exception {
        Translation t = walker.translate(Cpus.of(PagingMode.NONE, 0, false), 0x7c47);
        assertThat(t.physicalAddress()).isEqualTo(0x7c47);
        assertThat(t.mode()).isEqualTo(PagingMode.NONE);
        assertThat(t.entries()).isEmpty();
        assertThat(t.pageSize()).isEqualTo(4096);
        assertThat(mem.reads()).isZero();
    }

    @Test
    void withoutPagingAnAddressAbove4GiBIsRefused() {
        PageWalkException e = walkFails(Cpus.of(PagingMode.NONE, 0, false), 0x1_0000_0000L);
        assertThat(e.reason()).isEqualTo(Reason.OUTSIDE_ADDRESS_SPACE);
        assertThat(e.level()).isEmpty();
        assertThat(e.entryAddress()).isEmpty();
        assertThat(e.getMessage()).contains("guest-virtual 0x100000000", "no paging", "not a 32-bit linear address");
    }

    // ---- 32-bit paging ----

    /** va 0x1407abc: PDE 5 (bits 31:22), PTE 7 (bits 21:12), offset 0xabc. */
    private void bit32Tables() {
        mem.put(0x1000 + 5 * 4, 0x2000 | 0x27, 4);          // PDE -> page table at 0x2000
        mem.put(0x2000 + 7 * 4, 0x1234_5000L | 0x63, 4);    // PTE -> frame 0x12345000 (A, D set: no matter)
        mem.put(0x2000 + 8 * 4, 0xffff_ffffL, 4);           // the next PTE: a 4-byte entry reads no further
    }

    @Test
    void bit32WalksPdeThenPteWithFourByteEntries() throws Exception {
        bit32Tables();
        // CR3 bits 11:0 (PWT, PCD, ignored bits) do not move the directory.
        Translation t = walker.translate(Cpus.of(PagingMode.BIT32, 0x1018, false), 0x1407abc);
        assertThat(t.physicalAddress()).isEqualTo(0x1234_5abcL);
        assertThat(t.pageSize()).isEqualTo(4096);
        assertThat(t.entries()).containsExactly(
                new PagingEntry(PagingLevel.PDE, 0x1014, 0x2027, 1L << 22, false),
                new PagingEntry(PagingLevel.PTE, 0x201c, 0x1234_5063L, 4096, true));
    }

    @Test
    void bit32MapsA4MiBPageWithPse() throws Exception {
        mem.put(0x1000 + 5 * 4, 0x0fc0_0000L | 0x83, 4);
        Translation t = walker.translate(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertThat(t.physicalAddress()).isEqualTo(0x0fc0_0000L + 0x7abc);
        assertThat(t.pageSize()).isEqualTo(4L << 20);
        assertThat(t.entries()).hasSize(1);
        assertThat(t.entries().get(0).leaf()).isTrue();
    }

    @Test
    void bit32A4MiBPageTakesBits39To32FromPdeBits20To13AndIgnoresPat() throws Exception {
        // PSE-36: PDE bits 20:13 = 0xab are physical bits 39:32; bit 12 (PAT) is no address bit.
        mem.put(0x1000 + 5 * 4, 0x0fc0_0000L | 0xabL << 13 | 1L << 12 | 0x83, 4);
        Translation t = walker.translate(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertThat(t.physicalAddress()).isEqualTo(0xab_0fc0_0000L + 0x7abc);
    }

    @Test
    void bit32PdeBit21IsReservedInA4MiBPage() {
        mem.put(0x1000 + 5 * 4, 0x0fc0_0000L | 1L << 21 | 0x83, 4);
        PageWalkException e = walkFails(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PDE, 0x1014, 0x0fe0_0083L);
        assertThat(e.getMessage()).contains("bits 21:21 of a 4 MiB PDE");
    }

    @Test
    void bit32PseBitsAboveMaxPhysAddrAreReserved() throws Exception {
        PageWalker narrow = new PageWalker(mem, 36);
        mem.put(0x1000 + 5 * 4, 0x0fc0_0000L | 0x0fL << 13 | 0x83, 4);   // physical bits 35:32: fits 36
        assertThat(narrow.translate(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc).physicalAddress())
                .isEqualTo(0xf_0fc0_0000L + 0x7abc);
        mem.put(0x1000 + 5 * 4, 0x0fc0_0000L | 0x10L << 13 | 0x83, 4);   // physical bit 36: does not
        PageWalkException e = walkFails(narrow, Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PDE, 0x1014, 0x0fc2_0083L);
        assertThat(e.getMessage()).contains("bits 21:17", "MAXPHYADDR 36");
    }

    @Test
    void bit32WithoutPseAPdePsBitIsIgnored() throws Exception {
        // CR4.PSE clear: bit 7 of the PDE means nothing, the PDE points to a page table.
        mem.put(0x1000 + 5 * 4, 0x2000 | 0x87, 4);
        mem.put(0x2000 + 7 * 4, 0x1234_5000L | 0x1, 4);
        PagingRegisters noPse = new PagingRegisters(Cpus.CR0_PAGED, 0x1000, 0, 0);
        Translation t = walker.translate(noPse, 0x1407abc);
        assertThat(t.physicalAddress()).isEqualTo(0x1234_5abcL);
        assertThat(t.entries()).extracting(PagingEntry::level).containsExactly(PagingLevel.PDE, PagingLevel.PTE);
    }

    @Test
    void bit32NotPresentPdeAndPteStopTheWalkThere() {
        mem.put(0x1000 + 5 * 4, 0x2000 | 0x26, 4);                        // P clear
        PageWalkException e = walkFails(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertStoppedAt(e, Reason.NOT_PRESENT, PagingLevel.PDE, 0x1014, 0x2026);
        assertThat(e.entries()).isEmpty();
        assertThat(e.getMessage()).isEqualTo("guest-virtual 0x1407abc (32-bit paging, CR3 0x1000): the PDE at"
                + " guest-physical 0x1014 = 0x2026 is not present (bit 0 clear): the guest maps nothing at this address");

        mem.put(0x1000 + 5 * 4, 0x2000 | 0x27, 4);
        mem.put(0x2000 + 7 * 4, 0x1234_5000L, 4);
        e = walkFails(Cpus.of(PagingMode.BIT32, 0x1000, false), 0x1407abc);
        assertStoppedAt(e, Reason.NOT_PRESENT, PagingLevel.PTE, 0x201c, 0x1234_5000L);
        assertThat(e.entries()).extracting(PagingEntry::level).containsExactly(PagingLevel.PDE);
        assertThat(e.getMessage()).contains("(walked [PDE at 0x1014 = 0x2027])");
    }

    @Test
    void bit32AnAddressAbove4GiBIsRefused() {
        PageWalkException e = walkFails(Cpus.of(PagingMode.BIT32, 0x1000, false), 0xffff_ffff_8000_0000L);
        assertThat(e.reason()).isEqualTo(Reason.OUTSIDE_ADDRESS_SPACE);
        assertThat(mem.reads()).isZero();
    }

    // ---- PAE paging ----

    /** va 0x80604123: PDPTE 2 (bits 31:30), PDE 3 (29:21), PTE 4 (20:12), offset 0x123; PDPT at 0x1020. */
    private static final long PAE_VA = 2L << 30 | 3L << 21 | 4L << 12 | 0x123;

    private void paeTables(long pte) {
        mem.put(0x1020 + 2 * 8, 0x2000 | 0x1, 8);           // PDPTE -> page directory at 0x2000
        mem.put(0x2000 + 3 * 8, 0x3000 | 0x7, 8);           // PDE -> page table at 0x3000
        mem.put(0x3000 + 4 * 8, pte, 8);
    }

    @Test
    void paeReadsItsPdptAtCr3Bits31To5AndMapsAbove4GiB() throws Exception {
        paeTables(0x4_5678_9000L | 0x3);
        // CR3 0x1038: the PDPT is at 0x1020 (bits 31:5); bits 4:3 are PWT and PCD.
        Translation t = walker.translate(Cpus.of(PagingMode.PAE, 0x1038, false), PAE_VA);
        assertThat(t.physicalAddress()).isEqualTo(0x4_5678_9123L);
        assertThat(t.entries()).containsExactly(
                new PagingEntry(PagingLevel.PDPTE, 0x1030, 0x2001, 1L << 30, false),
                new PagingEntry(PagingLevel.PDE, 0x2018, 0x3007, 1L << 21, false),
                new PagingEntry(PagingLevel.PTE, 0x3020, 0x4_5678_9003L, 4096, true));
    }

    @Test
    void paeMapsA2MiBPageIgnoringItsPatBit() throws Exception {
        mem.put(0x1020 + 2 * 8, 0x2000 | 0x1, 8);
        mem.put(0x2000 + 3 * 8, 0x4000_0000L | 1L << 12 | 0x83, 8);
        Translation t = walker.translate(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        assertThat(t.physicalAddress()).isEqualTo(0x4000_0000L + (PAE_VA & 0x1f_ffff));
        assertThat(t.pageSize()).isEqualTo(2L << 20);
        assertThat(t.pageBase()).isEqualTo(0x4000_0000L);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 5, 6, 7, 8, 52, 62, 63})
    void paePdpteReservedBits(int bit) {
        mem.put(0x1020 + 2 * 8, 0x2000 | 0x1 | 1L << bit, 8);
        // Reserved whether or not EFER.NXE is set: a PDPTE has no XD bit.
        PageWalkException e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, true), PAE_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PDPTE, 0x1030, 0x2001 | 1L << bit);
        assertThat(e.getMessage()).contains("has reserved bits set", "0x" + Long.toHexString(1L << bit));
    }

    @Test
    void paePdpteWithBits3And4And9To11IsFine() throws Exception {
        mem.put(0x1020 + 2 * 8, 0x2000 | 0x1 | 0x18 | 0xe00, 8);
        mem.put(0x2000 + 3 * 8, 0x3000 | 0x7, 8);
        mem.put(0x3000 + 4 * 8, 0x5000 | 0x1, 8);
        assertThat(walker.translate(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA).physicalAddress()).isEqualTo(0x5123);
    }

    @Test
    void paeBits62To52AreReservedInPdesAndPtes() {
        paeTables(0x5000 | 0x1 | 1L << 52);
        PageWalkException e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, true), PAE_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PTE, 0x3020, 0x5001 | 1L << 52);
        assertThat(e.getMessage()).contains("bits 62:52 (above MAXPHYADDR 52 in PAE paging)");
    }

    @Test
    void xdIsReservedWithoutEferNxeAndAllowedWithIt() throws Exception {
        paeTables(0x5000 | 0x1 | 1L << 63);
        PageWalkException e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PTE, 0x3020, 0x8000_0000_0000_5001L);
        assertThat(e.getMessage()).contains("bit 63 (XD while EFER.NXE is clear)");
        assertThat(walker.translate(Cpus.of(PagingMode.PAE, 0x1020, true), PAE_VA).physicalAddress()).isEqualTo(0x5123);
    }

    @Test
    void pae2MiBPageBits20To13AreReserved() {
        mem.put(0x1020 + 2 * 8, 0x2000 | 0x1, 8);
        mem.put(0x2000 + 3 * 8, 0x4000_0000L | 1L << 13 | 0x83, 8);
        PageWalkException e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PDE, 0x2018, 0x4000_2083L);
        assertThat(e.getMessage()).contains("bits 20:13 of a 2 MiB PDE");
    }

    @Test
    void aNarrowerMaxPhysAddrMakesHighAddressBitsReserved() throws Exception {
        paeTables(0x10_0000_0000L | 0x1);                        // bit 36
        assertThat(walker.translate(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA).physicalAddress())
                .isEqualTo(0x10_0000_0123L);
        PageWalkException e = walkFails(new PageWalker(mem, 36), Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PTE, 0x3020, 0x10_0000_0001L);
        assertThat(e.getMessage()).contains("bits 62:36 (above MAXPHYADDR 36", "more than the 36 bits");
    }

    @Test
    void paeNotPresentPdpte() {
        PageWalkException e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        // The PDPT's page exists (nothing in it): the read succeeds and finds P clear.
        assertThat(e.reason()).isEqualTo(Reason.TABLE_UNREADABLE);
        mem.add(0x1000);
        e = walkFails(Cpus.of(PagingMode.PAE, 0x1020, false), PAE_VA);
        assertStoppedAt(e, Reason.NOT_PRESENT, PagingLevel.PDPTE, 0x1030, 0);
    }

    // ---- 4-level paging ----

    /** va 0x181_40e0_9abc: PML4E 3, PDPTE 5, PDE 7, PTE 9, offset 0xabc. */
    private static final long L4_VA = 3L << 39 | 5L << 30 | 7L << 21 | 9L << 12 | 0xabc;

    private void level4Tables(long pte) {
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x27, 8);
        mem.put(0x2000 + 5 * 8, 0x3000 | 0x7, 8);
        mem.put(0x3000 + 7 * 8, 0x4000 | 0x7, 8);
        mem.put(0x4000 + 9 * 8, pte, 8);
    }

    @Test
    void level4WalksFourLevels() throws Exception {
        level4Tables(0x1_2345_6000L | 0x63);
        // CR3 bits 11:0 (a PCID), bit 63 and the LAM bits 62:61 are not the table's address.
        long cr3 = 0xe000_0000_0000_1abcL;
        Translation t = walker.translate(Cpus.of(PagingMode.LEVEL4, cr3, false), L4_VA);
        assertThat(t.physicalAddress()).isEqualTo(0x1_2345_6abcL);
        assertThat(t.entries()).containsExactly(
                new PagingEntry(PagingLevel.PML4E, 0x1018, 0x2027, 1L << 39, false),
                new PagingEntry(PagingLevel.PDPTE, 0x2028, 0x3007, 1L << 30, false),
                new PagingEntry(PagingLevel.PDE, 0x3038, 0x4007, 1L << 21, false),
                new PagingEntry(PagingLevel.PTE, 0x4048, 0x1_2345_6063L, 4096, true));
        assertThat(t.toString()).isEqualTo("0x18140e09abc -> 0x123456abc (4-level paging, 4 KiB page): [PML4E at 0x1018"
                + " = 0x2027, PDPTE at 0x2028 = 0x3007, PDE at 0x3038 = 0x4007, PTE at 0x4048 = 0x123456063 (4 KiB page)]");
    }

    @Test
    void level4Maps1GiBAnd2MiBPages() throws Exception {
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x7, 8);
        mem.put(0x2000 + 5 * 8, 0x40_0000_0000L | 1L << 12 | 0x83, 8);   // 1 GiB, PAT set
        Translation t = walker.translate(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertThat(t.physicalAddress()).isEqualTo(0x40_0000_0000L + (L4_VA & 0x3fff_ffffL));
        assertThat(t.pageSize()).isEqualTo(1L << 30);
        assertThat(t.entries()).extracting(PagingEntry::level).containsExactly(PagingLevel.PML4E, PagingLevel.PDPTE);

        mem.put(0x2000 + 5 * 8, 0x3000 | 0x7, 8);
        mem.put(0x3000 + 7 * 8, 0x80_0020_0000L | 0x83, 8);               // 2 MiB
        t = walker.translate(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertThat(t.physicalAddress()).isEqualTo(0x80_0020_0000L + (L4_VA & 0x1f_ffff));
        assertThat(t.pageSize()).isEqualTo(2L << 20);
    }

    @Test
    void level4LargePagesMustBeAligned() {
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x7, 8);
        mem.put(0x2000 + 5 * 8, 0x40_0000_0000L | 1L << 29 | 0x83, 8);
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PDPTE, 0x2028, 0x40_2000_0083L);
        assertThat(e.getMessage()).contains("bits 29:13 of a 1 GiB PDPTE");
    }

    @Test
    void level4PsIsReservedInAPml4e() {
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x87, 8);
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PML4E, 0x1018, 0x2087);
        assertThat(e.getMessage()).contains("bit 7 (PS) of a PML4E");
    }

    @Test
    void level4Bits62To52AreIgnoredButBits51ToMaxPhysAddrAreReserved() throws Exception {
        level4Tables(0x7ff0_0000_0000_5000L | 0x1);       // software bits and protection keys
        assertThat(walker.translate(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA).physicalAddress())
                .isEqualTo(0x5abc);
        level4Tables(0x100_0000_5000L | 0x1);             // bit 40
        PageWalkException e = walkFails(new PageWalker(mem, 40), Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PTE, 0x4048, 0x100_0000_5001L);
        assertThat(e.getMessage()).contains("bits 51:40 (above MAXPHYADDR 40)");
    }

    @Test
    void level4NotPresentAtEachLevel() {
        long[][] tables = {{0x1018, 0x2000 | 0x7}, {0x2028, 0x3000 | 0x7}, {0x3038, 0x4000 | 0x7}, {0x4048, 0x5001}};
        PagingLevel[] levels = {PagingLevel.PML4E, PagingLevel.PDPTE, PagingLevel.PDE, PagingLevel.PTE};
        for (int depth = 0; depth < 4; depth++) {
            for (int d = 0; d < 4; d++) {
                mem.put(tables[d][0], d < depth ? tables[d][1] : 0, 8);
            }
            PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
            assertStoppedAt(e, Reason.NOT_PRESENT, levels[depth], tables[depth][0], 0);
            assertThat(e.entries()).hasSize(depth);
        }
    }

    @Test
    void level4NonCanonicalAddressesAreRefusedBeforeAnyRead() {
        for (long va : new long[] {0x0000_8000_0000_0000L, 0xffff_7fff_ffff_ffffL, 0x0001_0000_0000_0000L,
            0x8000_0000_0000_0000L}) {
            PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), va);
            assertThat(e.reason()).isEqualTo(Reason.NON_CANONICAL);
            assertThat(e.virtualAddress()).isEqualTo(va);
            assertThat(e.level()).isEmpty();
            assertThat(e.getMessage()).contains("guest-virtual 0x" + Long.toHexString(va), "not canonical",
                    "bits 63:47 must all equal bit 47");
        }
        assertThat(mem.reads()).isZero();
    }

    @Test
    void level4CanonicalHighHalfIsWalked() {
        mem.add(0x1000);
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), 0xffff_8000_0000_0000L);
        assertStoppedAt(e, Reason.NOT_PRESENT, PagingLevel.PML4E, 0x1000 + 256 * 8, 0);
    }

    // ---- 5-level paging ----

    @Test
    void level5WalksAPml5eFirstAndTakes57BitAddresses() throws Exception {
        long va = 0x1ffL << 48 | 3L << 39 | 5L << 30 | 7L << 21 | 9L << 12 | 0xabc;   // PML5E 511
        long canonical = va | 0xfe00_0000_0000_0000L;                                     // bits 63:57 copy 56
        mem.put(0x1000 + 511 * 8, 0x6000 | 0x7, 8);
        mem.put(0x6000 + 3 * 8, 0x2000 | 0x7, 8);
        mem.put(0x2000 + 5 * 8, 0x3000 | 0x7, 8);
        mem.put(0x3000 + 7 * 8, 0x4000 | 0x7, 8);
        mem.put(0x4000 + 9 * 8, 0x5001, 8);
        Translation t = walker.translate(Cpus.of(PagingMode.LEVEL5, 0x1000, false), canonical);
        assertThat(t.physicalAddress()).isEqualTo(0x5abc);
        assertThat(t.mode()).isEqualTo(PagingMode.LEVEL5);
        assertThat(t.entries()).extracting(PagingEntry::level).containsExactly(PagingLevel.PML5E, PagingLevel.PML4E,
                PagingLevel.PDPTE, PagingLevel.PDE, PagingLevel.PTE);
        assertThat(t.entries().get(0).address()).isEqualTo(0x1ff8);
        assertThat(t.entries().get(0).covers()).isEqualTo(1L << 48);

        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL5, 0x1000, false), va);   // bit 56 set, 63:57 clear
        assertThat(e.reason()).isEqualTo(Reason.NON_CANONICAL);
        assertThat(e.getMessage()).contains("5-level paging bits 63:56 must all equal bit 56");
    }

    @Test
    void level5Bit47IsAnOrdinaryIndexBit() {
        // Non-canonical in 4-level paging, canonical in 5-level paging: walked.
        mem.add(0x1000);
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL5, 0x1000, false), 0x0000_8000_0000_0000L);
        assertStoppedAt(e, Reason.NOT_PRESENT, PagingLevel.PML5E, 0x1000, 0);
    }

    @Test
    void level5PsIsReservedInAPml5e() {
        mem.put(0x1000, 0x2000 | 0x87, 8);
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL5, 0x1000, false), 0x1000);
        assertStoppedAt(e, Reason.RESERVED_BIT, PagingLevel.PML5E, 0x1000, 0x2087);
    }

    // ---- every mode ----

    @Test
    void anUnreadableTableNamesItsLevelAndAddressAndKeepsTheCause() {
        // CR3 points at a frame the memory does not have.
        PageWalkException e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x9000, false), L4_VA);
        assertThat(e.reason()).isEqualTo(Reason.TABLE_UNREADABLE);
        assertThat(e.level()).contains(PagingLevel.PML4E);
        assertThat(e.entryAddress()).hasValue(0x9018);
        assertThat(e.entry()).isEmpty();
        assertThat(e.getCause()).isInstanceOf(GuestMemoryException.class);
        assertThat(e.getMessage()).isEqualTo("guest-virtual 0x18140e09abc (4-level paging, CR3 0x9000): the PML4E at"
                + " guest-physical 0x9018 cannot be read: guest-physical 0x9018: no frame there (test memory)");

        // A PDE that points at a frame the memory does not have.
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x7, 8);
        mem.put(0x2000 + 5 * 8, 0x3000 | 0x7, 8);
        mem.put(0x3000 + 7 * 8, 0x7000 | 0x7, 8);
        e = walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        assertThat(e.reason()).isEqualTo(Reason.TABLE_UNREADABLE);
        assertThat(e.level()).contains(PagingLevel.PTE);
        assertThat(e.entryAddress()).hasValue(0x7048);
        assertThat(e.entries()).extracting(PagingEntry::level).containsExactly(PagingLevel.PML4E, PagingLevel.PDPTE,
                PagingLevel.PDE);
    }

    @Test
    void aWalkWritesNothingNotEvenAccessedOrDirtyBits() throws Exception {
        level4Tables(0x5000 | 0x1);                       // A and D clear at every level
        mem.put(0x1000 + 3 * 8, 0x2000 | 0x7, 8);
        Map<Long, String> before = mem.snapshot();
        walker.translate(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA);
        walkFails(Cpus.of(PagingMode.LEVEL4, 0x1000, false), L4_VA + 0x1000);   // a failed walk either
        assertThat(mem.writes()).isZero();
        assertThat(mem.snapshot()).isEqualTo(before);
        assertThat(mem.get(0x4048, 8) & 0x60).isZero();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 31, 53, 64})
    void maxPhysAddrOutsideWhatACpuReportsIsRefused(int bits) {
        assertThatThrownBy(() -> new PageWalker(mem, bits)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("MAXPHYADDR " + bits).hasMessageContaining("32 to 52");
    }

    @Test
    void theModesHaveTheSdmShapes() {
        assertThat(PagingMode.BIT32.steps()).extracting(PagingMode.Step::shift).containsExactly(22, 12);
        assertThat(PagingMode.PAE.steps()).extracting(PagingMode.Step::indexBits).containsExactly(2, 9, 9);
        assertThat(PagingMode.LEVEL5.linearBits()).isEqualTo(57);
        assertThat(List.of(PagingMode.values())).extracting(PagingMode::toString).containsExactly("no paging",
                "32-bit paging", "PAE paging", "4-level paging", "5-level paging");
    }

    private PageWalkException walkFails(PagingRegisters cpu, long va) {
        return walkFails(walker, cpu, va);
    }

    private static PageWalkException walkFails(PageWalker w, PagingRegisters cpu, long va) {
        PageWalkException e = catchThrowableOfType(PageWalkException.class, () -> w.translate(cpu, va));
        assertThat(e).as("the walk of %x fails", va).isNotNull();
        assertThat(e.virtualAddress()).isEqualTo(va);
        return e;
    }

    private static void assertStoppedAt(PageWalkException e, Reason reason, PagingLevel level, long address, long entry) {
        assertThat(e.reason()).isEqualTo(reason);
        assertThat(e.level()).contains(level);
        assertThat(e.entryAddress()).hasValue(address);
        assertThat(e.entry()).hasValue(entry);
        assertThat(e.getMessage()).contains("the " + level + " at guest-physical 0x" + Long.toHexString(address) + " = 0x"
                + Long.toHexString(entry));
    }
}
