package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.xenfork.vmi.PageWalkException.Reason;

class GuestMemoryTest {
    private final SparsePhysicalMemory mem = new SparsePhysicalMemory();
    private final GuestMemory guest = new GuestMemory(mem);
    private final PageTables tables = new PageTables(PagingMode.LEVEL4, mem);
    private final PagingRegisters cpu = Cpus.of(PagingMode.LEVEL4, tables.cr3(), true);

    /** Frame contents that say where they are: byte i of frame f is (f >> 12) + i. */
    private void fill(long frame) {
        mem.add(frame);
        byte[] b = new byte[4096];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) ((frame >>> 12) + i);
        }
        try {
            mem.write(frame, b, 0, b.length);
        } catch (GuestMemoryException e) {
            throw new AssertionError(e);
        }
    }

    private byte[] physical(long address, int length) throws GuestMemoryException {
        byte[] b = new byte[length];
        mem.read(address, b, 0, length);
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void physicalReadsAndWritesGoToThePhysicalMemory() throws Exception {
        fill(0x5000);
        fill(0x6000);
        guest.writePhysical(0x5ffe, new byte[] {1, 2, 3, 4}, 0, 4);       // across a page boundary
        assertThat(guest.readPhysical(0x5ffe, 4)).containsExactly(1, 2, 3, 4);
        byte[] dst = new byte[6];
        guest.readPhysical(0x5ffe, dst, 1, 4);
        assertThat(dst).containsExactly(0, 1, 2, 3, 4, 0);
        assertThat(physical(0x6000, 2)).containsExactly(3, 4);
    }

    @Test
    void aPhysicalAddressWithNoFrameFailsNamingIt() {
        assertThatThrownBy(() -> guest.readPhysical(0x7_0000, 8)).isInstanceOf(GuestMemoryException.class)
                .hasMessageContaining("guest-physical 0x70000");
        assertThatThrownBy(() -> guest.writePhysical(0x7_0000, new byte[8], 0, 8))
                .isInstanceOf(GuestMemoryException.class).hasMessageContaining("guest-physical 0x70000");
    }

    @Test
    void aVirtualReadAcrossPagesIsEachPagesBytesInOrder() throws Exception {
        // Two neighbouring virtual pages on frames far apart and out of order.
        tables.map(0x40_0000, 0x9_0000, 4096);
        tables.map(0x40_1000, 0x3_0000, 4096);
        fill(0x9_0000);
        fill(0x3_0000);
        byte[] got = guest.readVirtual(cpu, 0x40_0ff0, 0x20);
        assertThat(got).isEqualTo(concat(physical(0x9_0ff0, 0x10), physical(0x3_0000, 0x10)));
    }

    @Test
    void aVirtualWriteAcrossPagesLandsOnEachFrame() throws Exception {
        tables.map(0x40_0000, 0x9_0000, 4096);
        tables.map(0x40_1000, 0x3_0000, 4096);
        fill(0x9_0000);
        fill(0x3_0000);
        byte[] data = new byte[0x20];
        Arrays.fill(data, (byte) 0x5a);
        guest.writeVirtual(cpu, 0x40_0ff0, data, 0, data.length);
        assertThat(physical(0x9_0ff0, 0x10)).containsOnly(0x5a);
        assertThat(physical(0x3_0000, 0x10)).containsOnly(0x5a);
        assertThat(physical(0x9_0fef, 1)[0]).isNotEqualTo((byte) 0x5a);
        assertThat(physical(0x3_0010, 1)[0]).isNotEqualTo((byte) 0x5a);
        assertThat(guest.readVirtual(cpu, 0x40_0ff0, 0x20)).isEqualTo(data);
    }

    @Test
    void aReadRunningIntoAnUnmappedPageNamesThatPageAndReadsNothing() throws Exception {
        tables.map(0x40_0000, 0x9_0000, 4096);
        fill(0x9_0000);
        byte[] dst = new byte[0x20];
        int readsBefore = mem.reads();
        PageWalkException e = catchThrowableOfType(PageWalkException.class,
                () -> guest.readVirtual(cpu, 0x40_0ff0, dst, 0, dst.length));
        assertThat(e.virtualAddress()).isEqualTo(0x40_1000);
        assertThat(e.reason()).isEqualTo(Reason.NOT_PRESENT);
        assertThat(e.level()).contains(PagingLevel.PTE);
        assertThat(e.getMessage()).startsWith("guest-virtual 0x401000 (4-level paging");
        assertThat(dst).containsOnly(0);
        // Only entries were read (two walks of four levels, the second stopping at its PTE): no data.
        assertThat(mem.reads() - readsBefore).isEqualTo(8);
    }

    @Test
    void aWriteRunningIntoAnUnmappedPageWritesNothing() throws Exception {
        tables.map(0x40_0000, 0x9_0000, 4096);
        tables.map(0x40_1000, 0x3_0000, 4096);
        fill(0x9_0000);
        fill(0x3_0000);
        Map<Long, String> before = mem.snapshot();
        byte[] data = new byte[0x2010];                                    // three pages: the third is unmapped
        PageWalkException e = catchThrowableOfType(PageWalkException.class,
                () -> guest.writeVirtual(cpu, 0x40_0ff0, data, 0, data.length));
        assertThat(e.virtualAddress()).isEqualTo(0x40_2000);
        assertThat(mem.writes()).isEqualTo(2);                             // the two fills, nothing since
        assertThat(mem.snapshot()).isEqualTo(before);
    }

    @Test
    void aFrameThePhysicalMemoryRefusesAfterTranslationSaysWhatWasWritten() throws Exception {
        tables.map(0x40_0000, 0x9_0000, 4096);
        tables.map(0x40_1000, 0x3_0000, 4096);                             // translates, but no frame 0x30000
        fill(0x9_0000);
        byte[] data = new byte[0x20];
        Arrays.fill(data, (byte) 0x5a);
        assertThatThrownBy(() -> guest.writeVirtual(cpu, 0x40_0ff0, data, 0, data.length))
                .isInstanceOf(GuestMemoryException.class).isNotInstanceOf(PageWalkException.class)
                .hasMessage("writing guest-virtual 0x401000 (guest-physical 0x30000): guest-physical 0x30000: no frame"
                        + " there (test memory); the first 16 of the 32 bytes (guest-virtual 0x400ff0 to 0x400fff) were"
                        + " written");
        assertThat(physical(0x9_0ff0, 0x10)).containsOnly(0x5a);

        assertThatThrownBy(() -> guest.writeVirtual(cpu, 0x40_1000, data, 0, data.length))
                .hasMessageEndingWith("; nothing was written");
        assertThatThrownBy(() -> guest.readVirtual(cpu, 0x40_0ff0, 0x20))
                .isInstanceOf(GuestMemoryException.class)
                .hasMessage("reading guest-virtual 0x401000 (guest-physical 0x30000): guest-physical 0x30000: no frame"
                        + " there (test memory)");
    }

    @Test
    void aLargePageIsOnePageOneWalk() throws Exception {
        tables.map(0x4000_0000L, 0x20_0000, 2L << 20);
        fill(0x20_0000);
        fill(0x20_1000);
        fill(0x20_2000);
        int readsBefore = mem.reads();
        byte[] got = guest.readVirtual(cpu, 0x4000_0800L, 0x2000);
        // One walk (PML4E, PDPTE, PDE) and one read of the bytes, though they span three frames.
        assertThat(mem.reads() - readsBefore).isEqualTo(3 + 1);
        assertThat(got).isEqualTo(physical(0x20_0800, 0x2000));
    }

    @Test
    void withoutPagingAVirtualAddressIsThePhysicalOne() throws Exception {
        fill(0x7000);
        fill(0x8000);
        PagingRegisters realMode = Cpus.of(PagingMode.NONE, 0, false);
        assertThat(guest.readVirtual(realMode, 0x7ff0, 0x20)).isEqualTo(physical(0x7ff0, 0x20));
        assertThat(guest.translate(realMode, 0x7c47).physicalAddress()).isEqualTo(0x7c47);
    }

    @Test
    void a32BitRangeCannotRunPast4GiB() throws Exception {
        SparsePhysicalMemory m = new SparsePhysicalMemory();
        PageTables t = new PageTables(PagingMode.BIT32, m);
        t.map(0xffff_f000L, 0x5000, 4096);
        m.add(0x5000);
        GuestMemory g = new GuestMemory(m);
        PagingRegisters c = Cpus.of(PagingMode.BIT32, t.cr3(), false);
        assertThat(g.readVirtual(c, 0xffff_fff0L, 0x10)).hasSize(0x10);
        PageWalkException e = catchThrowableOfType(PageWalkException.class, () -> g.readVirtual(c, 0xffff_fff0L, 0x20));
        assertThat(e.reason()).isEqualTo(Reason.OUTSIDE_ADDRESS_SPACE);
        assertThat(e.virtualAddress()).isEqualTo(0x1_0000_0000L);
    }

    @Test
    void aRangeCannotWrapPastTheTopOfTheAddressSpace() {
        assertThatThrownBy(() -> guest.readVirtual(cpu, 0xffff_ffff_ffff_f000L, 0x2000))
                .isInstanceOf(GuestMemoryException.class)
                .hasMessage("guest-virtual 0xfffffffffffff000 + 8192 bytes runs past the end of the address space"
                        + " (0xffffffffffffffff); read or write it as two ranges");
        assertThat(mem.reads()).isZero();
    }

    @Test
    void nothingToMoveMeansNoWalk() throws Exception {
        assertThat(guest.readVirtual(cpu, 0xdead_0000L, 0)).isEmpty();
        guest.writeVirtual(cpu, 0xdead_0000L, new byte[4], 2, 0);
        assertThat(mem.reads()).isZero();
        assertThat(mem.writes()).isZero();
    }

    @Test
    void badLengthsAndOffsetsAreRefused() {
        assertThatThrownBy(() -> guest.readVirtual(cpu, 0, -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("length -1 is negative");
        assertThatThrownBy(() -> guest.readPhysical(0, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> guest.readVirtual(cpu, 0, new byte[4], 2, 3)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> guest.writeVirtual(cpu, 0, new byte[4], -1, 1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> guest.readPhysical(0, new byte[4], 0, 5)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> guest.writePhysical(0, new byte[4], 4, 1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> new GuestMemory(mem, 60)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("MAXPHYADDR 60");
    }

    @Test
    void theMaxPhysAddrGivenIsTheOneTheWalkUses() throws Exception {
        tables.map(0x40_0000, 0x100_0000_0000L, 4096);                     // bit 40
        assertThat(guest.translate(cpu, 0x40_0000).physicalAddress()).isEqualTo(0x100_0000_0000L);
        PageWalkException e = catchThrowableOfType(PageWalkException.class,
                () -> new GuestMemory(mem, 40).translate(cpu, 0x40_0000));
        assertThat(e.reason()).isEqualTo(Reason.RESERVED_BIT);
    }
}
