package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.lists;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;
import org.xenfork.vmi.PageWalkException.Reason;

/**
 * The walker and {@link GuestMemory} against a reference model, over page tables built from
 * random mappings (QuickTheories, fixed seed): for every paging mode, page size, MAXPHYADDR
 * and EFER.NXE, a mapped address translates to what the model says, through the entries the
 * tables hold; an unmapped one stops at the first level whose entry maps nothing the model
 * has; every reserved bit of every entry on a path stops the walk there, and every ignored bit
 * changes nothing, and an entry whose present bit is clear stops the walk whatever else it
 * holds; reads and writes of ranges are the pages' bytes in order, or fail at the
 * model's first unmapped page having moved nothing. The model knows the mappings only, not
 * the tables: where an entry lies and what it holds come from {@link PageTables}.
 */
class PageWalkPropertiesTest {
    private static final long SEED = 0x9a9e_3a1cL;
    private static final int EXAMPLES = 300;
    private static final long K4 = 4096;
    private static final long M2 = 2L << 20;
    private static final long M4 = 4L << 20;
    private static final long G1 = 1L << 30;
    private static final Map<PagingMode, List<Long>> SIZES = Map.of(
            PagingMode.BIT32, List.of(K4, M4),
            PagingMode.PAE, List.of(K4, M2),
            PagingMode.LEVEL4, List.of(K4, M2, G1),
            PagingMode.LEVEL5, List.of(K4, M2, G1));

    /**
     * A page mapped at {@code va}, with a point {@code inside} it to probe and a range of
     * {@code length} bytes from that point to read and write.
     */
    record Mapping(long va, long pa, long size, long inside, int length) {
        boolean contains(long address) {
            return Long.compareUnsigned(address - va, size) < 0;
        }

        boolean intersects(long start, long bytes) {
            return Long.compareUnsigned(va, start + bytes - 1) <= 0 && Long.compareUnsigned(start, va + size - 1) <= 0;
        }

        @Override
        public String toString() {
            return "0x" + Long.toHexString(va) + "->0x" + Long.toHexString(pa) + "/" + Translation.size(size) + "+0x"
                    + Long.toHexString(inside) + "#" + length;
        }
    }

    record World(PagingMode mode, boolean nxe, int maxPhysAddr, List<Mapping> mappings, List<Long> probes) {
        /** The model: where {@code va} is mapped, if it is. */
        OptionalLong translate(long va) {
            for (Mapping m : mappings) {
                if (m.contains(va)) {
                    return OptionalLong.of(m.pa + (va - m.va));
                }
            }
            return OptionalLong.empty();
        }

        Optional<Mapping> mappingOf(long va) {
            return mappings.stream().filter(m -> m.contains(va)).findFirst();
        }

        /** The model: the first level (depth) whose entry for {@code va} maps none of the mappings. */
        int missingDepth(PageTables t, long va) {
            for (int d = 0; d < t.levels(); d++) {
                long covers = t.covers(d);
                long start = va & -covers;
                if (mappings.stream().noneMatch(m -> m.intersects(start, covers))) {
                    return d;
                }
            }
            throw new AssertionError("0x" + Long.toHexString(va) + " is mapped");
        }

        boolean inAddressSpace(long va) {
            return switch (mode) {
                case LEVEL4 -> (va << 16) >> 16 == va;
                case LEVEL5 -> (va << 7) >> 7 == va;
                default -> va >>> 32 == 0;
            };
        }

        PagingRegisters cpu(PageTables t) {
            return Cpus.of(mode, t.cr3(), nxe);
        }

        PageTables build(SparsePhysicalMemory mem) {
            PageTables t = new PageTables(mode, mem);
            mappings.forEach(m -> t.map(m.va, m.pa, m.size));
            return t;
        }
    }

    @Test
    void aMappedAddressTranslatesAsTheModelSaysAndAnUnmappedOneStopsWhereTheModelSays() {
        qt().withFixedSeed(SEED).withExamples(EXAMPLES).forAll(worlds()).checkAssert(w -> {
            SparsePhysicalMemory mem = new SparsePhysicalMemory();
            PageTables t = w.build(mem);
            PageWalker walker = new PageWalker(mem, w.maxPhysAddr());
            Map<Long, String> before = mem.snapshot();
            List<Long> probes = new ArrayList<>(w.probes());
            w.mappings().forEach(m -> probes.add(m.va + m.inside));
            for (long va : probes) {
                OptionalLong pa = w.translate(va);
                if (pa.isPresent()) {
                    Mapping m = w.mappingOf(va).orElseThrow();
                    Translation tr = translate(walker, w.cpu(t), va);
                    assertThat(tr.physicalAddress()).isEqualTo(pa.getAsLong());
                    assertThat(tr.pageSize()).isEqualTo(m.size);
                    int leaf = t.depthOf(m.size);
                    assertThat(tr.entries()).hasSize(leaf + 1);
                    for (int d = 0; d <= leaf; d++) {
                        PagingEntry e = tr.entries().get(d);
                        assertThat(e.level()).isEqualTo(PageTables.LEVELS.get(w.mode())[d]);
                        assertThat(e.address()).isEqualTo(t.entryAddress(d, va));
                        assertThat(e.value()).isEqualTo(t.entry(d, va));
                        assertThat(e.covers()).isEqualTo(t.covers(d));
                        assertThat(e.leaf()).isEqualTo(d == leaf);
                    }
                } else {
                    int depth = w.missingDepth(t, va);
                    PageWalkException e = fails(walker, w.cpu(t), va);
                    assertThat(e.reason()).isEqualTo(Reason.NOT_PRESENT);
                    assertThat(e.level()).contains(PageTables.LEVELS.get(w.mode())[depth]);
                    assertThat(e.entryAddress()).hasValue(t.entryAddress(depth, va));
                    assertThat(e.entry()).hasValue(0);
                    assertThat(e.entries()).hasSize(depth);
                    assertThat(e.getMessage()).contains("guest-virtual 0x" + Long.toHexString(va),
                            "the " + PageTables.LEVELS.get(w.mode())[depth] + " at guest-physical 0x"
                                    + Long.toHexString(t.entryAddress(depth, va)), "is not present");
                }
            }
            assertThat(mem.writes()).isZero();
            assertThat(mem.snapshot()).isEqualTo(before);
        });
    }

    @Test
    void everyReservedBitOnAPathStopsTheWalkThereAndEveryIgnoredBitChangesNothingAndNotPresentComesFirst() {
        qt().withFixedSeed(SEED + 1).withExamples(EXAMPLES).forAll(worlds()).checkAssert(w -> {
            SparsePhysicalMemory mem = new SparsePhysicalMemory();
            PageTables t = w.build(mem);
            PageWalker walker = new PageWalker(mem, w.maxPhysAddr());
            PagingRegisters cpu = w.cpu(t);
            for (Mapping m : w.mappings()) {
                long va = m.va + m.inside;
                int leaf = t.depthOf(m.size);
                for (int d = 0; d <= leaf; d++) {
                    long original = t.entry(d, va);
                    for (int bit : reservedBits(w, d, d == leaf)) {
                        t.set(d, va, original | 1L << bit);
                        PageWalkException e = fails(walker, cpu, va);
                        assertThat(e.reason()).as("bit %d of depth %d", bit, d).isEqualTo(Reason.RESERVED_BIT);
                        assertThat(e.level()).contains(PageTables.LEVELS.get(w.mode())[d]);
                        assertThat(e.entryAddress()).hasValue(t.entryAddress(d, va));
                        assertThat(e.entry()).hasValue(original | 1L << bit);
                    }
                    for (int bit : ignoredBits(w, d, d == leaf)) {
                        t.set(d, va, original | 1L << bit);
                        assertThat(translate(walker, cpu, va).physicalAddress()).as("bit %d of depth %d", bit, d)
                                .isEqualTo(m.pa + m.inside);
                    }
                    // Present clear: every other bit is the guest's to use (even the reserved ones), the walk stops.
                    long reserved = reservedBits(w, d, d == leaf).stream().mapToLong(b -> 1L << b).reduce(0, (a, b) -> a | b);
                    t.set(d, va, (original | reserved) & ~1L);
                    PageWalkException e = fails(walker, cpu, va);
                    assertThat(e.reason()).isEqualTo(Reason.NOT_PRESENT);
                    assertThat(e.level()).contains(PageTables.LEVELS.get(w.mode())[d]);
                    t.set(d, va, original);
                }
            }
        });
    }

    @Test
    void rangesReadAsTheirPagesInOrderOrFailAtTheFirstUnmappedPage() {
        qt().withFixedSeed(SEED + 2).withExamples(EXAMPLES).forAll(worlds()).checkAssert(w -> {
            SparsePhysicalMemory mem = new SparsePhysicalMemory();
            PageTables t = w.build(mem);
            GuestMemory guest = new GuestMemory(mem, w.maxPhysAddr());
            for (Mapping m : w.mappings()) {
                long start = m.va + m.inside;
                Expected x = expect(w, mem, start, m.length);
                if (x.wraps) {
                    assertThat(catchThrowableOfType(GuestMemoryException.class,
                            () -> guest.readVirtual(w.cpu(t), start, m.length))).hasMessageContaining("runs past the end");
                } else if (x.failsAt.isPresent()) {
                    int reads = mem.reads();
                    PageWalkException e = catchThrowableOfType(PageWalkException.class,
                            () -> guest.readVirtual(w.cpu(t), start, m.length));
                    assertThat(e.virtualAddress()).isEqualTo(x.failsAt.getAsLong());
                    assertThat(mem.reads() - reads).as("only entries were read").isLessThanOrEqualTo(
                            (int) (x.pages * t.levels()));
                } else {
                    assertThat(readVirtual(guest, w.cpu(t), start, m.length)).isEqualTo(x.bytes);
                }
            }
        });
    }

    @Test
    void aWrittenRangeReadsBackAndLandsOnTheModelsFramesOrNothingIsWritten() {
        qt().withFixedSeed(SEED + 3).withExamples(EXAMPLES).forAll(worlds()).checkAssert(w -> {
            SparsePhysicalMemory mem = new SparsePhysicalMemory();
            PageTables t = w.build(mem);
            GuestMemory guest = new GuestMemory(mem, w.maxPhysAddr());
            for (Mapping m : w.mappings()) {
                long start = m.va + m.inside;
                Expected x = expect(w, mem, start, m.length);
                byte[] data = new byte[m.length];
                for (int i = 0; i < data.length; i++) {
                    data[i] = (byte) (start * 31 + i * 7 + 1);
                }
                Map<Long, String> before = mem.snapshot();
                if (x.wraps || x.failsAt.isPresent()) {
                    GuestMemoryException e = catchThrowableOfType(GuestMemoryException.class,
                            () -> guest.writeVirtual(w.cpu(t), start, data, 0, data.length));
                    assertThat(e).isNotNull();
                    if (x.failsAt.isPresent()) {
                        assertThat(((PageWalkException) e).virtualAddress()).isEqualTo(x.failsAt.getAsLong());
                    }
                    assertThat(mem.snapshot()).isEqualTo(before);
                } else {
                    writeVirtual(guest, w.cpu(t), start, data);
                    assertThat(readVirtual(guest, w.cpu(t), start, m.length)).isEqualTo(data);
                    int at = 0;
                    for (long[] chunk : x.chunks) {
                        assertThat(physical(mem, chunk[0], (int) chunk[1]))
                                .isEqualTo(java.util.Arrays.copyOfRange(data, at, at + (int) chunk[1]));
                        at += (int) chunk[1];
                    }
                }
            }
        });
    }

    @Test
    void aNonCanonicalAddressIsRefusedBeforeAnyRead() {
        qt().withFixedSeed(SEED + 4).withExamples(EXAMPLES)
                .forAll(Generate.pick(List.of(PagingMode.LEVEL4, PagingMode.LEVEL5)),
                        Generate.longRange(Long.MIN_VALUE, Long.MAX_VALUE))
                .checkAssert((mode, raw) -> {
                    int top = mode.linearBits() - 1;
                    long va = (raw << (63 - top)) >> (63 - top) == raw ? raw ^ 1L << 62 : raw;
                    SparsePhysicalMemory mem = new SparsePhysicalMemory();
                    PageTables t = new PageTables(mode, mem);
                    PageWalkException e = fails(new PageWalker(mem, 52), Cpus.of(mode, t.cr3(), true), va);
                    assertThat(e.reason()).isEqualTo(Reason.NON_CANONICAL);
                    assertThat(e.level()).isEmpty();
                    assertThat(mem.reads()).isZero();
                });
    }

    // ---- the model of ranges ----

    /** What a range should give: its bytes and the (physical address, length) of each page's part, or where it fails. */
    record Expected(boolean wraps, OptionalLong failsAt, byte[] bytes, List<long[]> chunks, long pages) {
    }

    /** Walks the range a 4 KiB page at a time through the model, filling each frame it reaches with bytes of its own. */
    private static Expected expect(World w, SparsePhysicalMemory mem, long start, int length) {
        if (Long.compareUnsigned(start + length - 1, start) < 0) {
            return new Expected(true, OptionalLong.empty(), null, List.of(), 0);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<long[]> chunks = new ArrayList<>();
        long done = 0;
        long pages = 0;
        while (done < length) {
            long va = start + done;
            pages++;
            OptionalLong pa = w.inAddressSpace(va) ? w.translate(va) : OptionalLong.empty();
            if (pa.isEmpty()) {
                return new Expected(false, OptionalLong.of(va), null, List.of(), pages);
            }
            int n = (int) Math.min(K4 - (va & (K4 - 1)), length - done);
            fill(mem, pa.getAsLong());
            bytes.writeBytes(physical(mem, pa.getAsLong(), n));
            chunks.add(new long[] {pa.getAsLong(), n});
            done += n;
        }
        return new Expected(false, OptionalLong.empty(), bytes.toByteArray(), chunks, pages);
    }

    /** Makes the frame at {@code pa} exist, holding bytes that depend on the frame (once: a second fill keeps them). */
    private static void fill(SparsePhysicalMemory mem, long pa) {
        long frame = pa & -K4;
        if (!mem.has(frame)) {
            byte[] b = new byte[(int) K4];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) ((frame >>> 12) * 13 + i);
            }
            mem.load(frame, b);
        }
    }

    private static byte[] physical(SparsePhysicalMemory mem, long pa, int n) {
        return mem.dump(pa, n);
    }

    // ---- the SDM's bits, written down here on their own ----

    /** The bits of a present entry at {@code depth} that the SDM reserves, for this world's mode, NXE and MAXPHYADDR. */
    static List<Integer> reservedBits(World w, int depth, boolean leaf) {
        PagingLevel level = PageTables.LEVELS.get(w.mode())[depth];
        int m = w.maxPhysAddr();
        List<Integer> bits = new ArrayList<>();
        switch (w.mode()) {
            case BIT32 -> {
                if (level == PagingLevel.PDE && leaf) {
                    range(bits, Math.min(m, 40) - 19, 21);
                }
            }
            case PAE -> {
                if (level == PagingLevel.PDPTE) {
                    bits.addAll(List.of(1, 2, 5, 6, 7, 8));
                    range(bits, m, 63);
                } else {
                    range(bits, m, 62);
                    if (!w.nxe()) {
                        bits.add(63);
                    }
                    if (leaf && level == PagingLevel.PDE) {
                        range(bits, 13, 20);
                    }
                }
            }
            default -> {
                range(bits, m, 51);
                if (!w.nxe()) {
                    bits.add(63);
                }
                if (level == PagingLevel.PML5E || level == PagingLevel.PML4E) {
                    bits.add(7);
                }
                if (leaf && level == PagingLevel.PDPTE) {
                    range(bits, 13, 29);
                }
                if (leaf && level == PagingLevel.PDE) {
                    range(bits, 13, 20);
                }
            }
        }
        return bits;
    }

    /** The bits of a present entry at {@code depth} that do not change the translation (flags, software bits, PAT). */
    static List<Integer> ignoredBits(World w, int depth, boolean leaf) {
        PagingLevel level = PageTables.LEVELS.get(w.mode())[depth];
        List<Integer> bits = new ArrayList<>();
        if (w.mode() == PagingMode.PAE && level == PagingLevel.PDPTE) {
            bits.addAll(List.of(3, 4, 9, 10, 11));
            return bits;
        }
        if (level == PagingLevel.PTE) {
            range(bits, 1, 11);                      // bit 7 of a PTE is PAT
        } else {
            range(bits, 1, 6);                       // bit 7 is PS: it decides the walk
            range(bits, 8, 11);
            if (leaf) {
                bits.add(12);                        // PAT of a large page
            }
        }
        if (w.mode().isLongMode()) {
            range(bits, 52, 62);                     // software bits and protection keys
        }
        if (w.mode() != PagingMode.BIT32 && w.nxe()) {
            bits.add(63);
        }
        return bits;
    }

    private static void range(List<Integer> bits, int low, int high) {
        for (int b = low; b <= high; b++) {
            bits.add(b);
        }
    }

    // ---- generators ----

    static Gen<World> worlds() {
        return Generate.pick(List.of(PagingMode.BIT32, PagingMode.PAE, PagingMode.LEVEL4, PagingMode.LEVEL5))
                .flatMap(mode -> Generate.pick(List.of(36, 40, 46, 52)).flatMap(m -> lists().of(mappings(mode, m))
                        .ofSizeBetween(1, 12)
                        .zip(lists().of(probe(mode)).ofSizeBetween(1, 16), Generate.booleans(),
                                (maps, probes, nxe) -> new World(mode, nxe, m,
                                        disjoint(mode, maps.stream().flatMap(List::stream).toList()), probes))));
    }

    /** A mapping, and half the time the page after it too (on a frame of its own), so ranges cross into mapped pages. */
    private static Gen<List<Mapping>> mappings(PagingMode mode, int maxPhysAddr) {
        return Generate.pick(SIZES.get(mode)).flatMap(size -> mapping(mode, maxPhysAddr, size)
                .zip(frame(mode, maxPhysAddr, size), Generate.booleans(), (m, pa, twin) -> twin
                        ? List.of(m, new Mapping(m.va + size, pa, size, 0, 1))
                        : List.of(m)));
    }

    /**
     * Keeps the mappings that lie in the mode's address space (a twin past the last page may
     * not) and overlap none kept before them, in virtual or in physical space.
     */
    private static List<Mapping> disjoint(PagingMode mode, List<Mapping> maps) {
        World space = new World(mode, false, 52, List.of(), List.of());
        List<Mapping> kept = new ArrayList<>();
        for (Mapping m : maps) {
            if (space.inAddressSpace(m.va) && space.inAddressSpace(m.va + m.size - 1) && kept.stream().noneMatch(k -> k.intersects(m.va, m.size)
                    || Long.compareUnsigned(k.pa, m.pa + m.size - 1) <= 0 && Long.compareUnsigned(m.pa, k.pa + k.size - 1) <= 0)) {
                kept.add(m);
            }
        }
        return kept;
    }

    private static Gen<Mapping> mapping(PagingMode mode, int maxPhysAddr, long size) {
        int depth = PageTables.SHIFTS.get(mode).length - 1 - (mode == PagingMode.BIT32
                ? (size == K4 ? 0 : 1)
                : Long.numberOfTrailingZeros(size / K4) / 9);
        Gen<Long> inside = Generate.longRange(0, size - 1).mix(Generate.longRange(1, Math.min(size, 3 * K4))
                .map(k -> size - k), 50);
        return virtual(mode, depth).zip(frame(mode, maxPhysAddr, size), inside, Generate.range(1, (int) (3 * K4 + 100)),
                (va, p, in, len) -> new Mapping(va, p, size, in, len));
    }

    /** A guest-physical page of {@code size} bytes the mode can map, off the tables' frames. */
    private static Gen<Long> frame(PagingMode mode, int maxPhysAddr, long size) {
        long limit = 1L << (mode == PagingMode.BIT32 ? size == K4 ? 32 : Math.min(maxPhysAddr, 40) : maxPhysAddr);
        long shift = Math.max(PageTables.REGION_END - PageTables.REGION, size);
        return Generate.longRange(0, (limit - shift) / size - 1).map(f -> {
            long p = f * size;
            // Off the tables' frames, by a shift that keeps distinct addresses distinct.
            return p + size > PageTables.REGION ? p + shift : p;
        });
    }

    /** An address anywhere, with offset bits: most probes miss, some at each level. */
    private static Gen<Long> probe(PagingMode mode) {
        return virtual(mode, PageTables.SHIFTS.get(mode).length - 1).zip(Generate.longRange(0, K4 - 1), (va, off) -> va | off);
    }

    /**
     * An address whose indexes down to level {@code depth} are drawn mostly from 0 to 3 (so
     * mappings share tables and probes miss deep), the rest zero; canonical in long mode.
     */
    private static Gen<Long> virtual(PagingMode mode, int depth) {
        int[] shifts = PageTables.SHIFTS.get(mode);
        int[] bits = PageTables.INDEX_BITS.get(mode);
        Gen<Integer> index = Generate.range(0, 3).mix(Generate.range(0, 1023), 30);
        return lists().of(index).ofSize(shifts.length).map(ix -> {
            long va = 0;
            for (int d = 0; d <= depth; d++) {
                va |= (ix.get(d) & ((1L << bits[d]) - 1)) << shifts[d];
            }
            int top = mode.linearBits() - 1;
            return mode.isLongMode() ? (va << (63 - top)) >> (63 - top) : va;
        });
    }

    // ---- checked calls inside lambdas ----

    private static Translation translate(PageWalker walker, PagingRegisters cpu, long va) {
        try {
            return walker.translate(cpu, va);
        } catch (PageWalkException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    private static PageWalkException fails(PageWalker walker, PagingRegisters cpu, long va) {
        PageWalkException e = catchThrowableOfType(PageWalkException.class, () -> walker.translate(cpu, va));
        assertThat(e).as("the walk of 0x%x fails", va).isNotNull();
        assertThat(e.virtualAddress()).isEqualTo(va);
        return e;
    }

    private static byte[] readVirtual(GuestMemory guest, PagingRegisters cpu, long va, int length) {
        try {
            return guest.readVirtual(cpu, va, length);
        } catch (GuestMemoryException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    private static void writeVirtual(GuestMemory guest, PagingRegisters cpu, long va, byte[] data) {
        try {
            guest.writeVirtual(cpu, va, data, 0, data.length);
        } catch (GuestMemoryException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }
}
