package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.HvmSamples;

/** Field-level differences, per record type and instance. */
class HvmDiffTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    private static HvmContext hvm() throws HvmContextException {
        return HvmContext.parse(HvmSamples.bytes(HvmSamples.HVM), XEN_4_17);
    }

    @Test
    void aContextDoesNotDifferFromItself() throws HvmContextException {
        assertThat(HvmDiff.between(hvm(), hvm())).isEmpty();
    }

    @Test
    void editsShowAsTheFieldsTheyChanged() throws HvmContextException {
        HvmContext a = hvm();
        HvmContext b = a.withField("CPU", 0, "rip", BigInteger.valueOf(0x7c49))
                .withField("CPU", 0, "fpu_regs[161]", BigInteger.valueOf(0x11))
                .withField("CPU", 0, "fpu_regs[162]", BigInteger.valueOf(0x22))
                .withField("PIC", 1, "imr", BigInteger.valueOf(0xff));
        assertThat(HvmDiff.between(a, b)).extracting(HvmDiff.Difference::toString).containsExactly(
                "CPU vcpu 0: fpu_regs[161..162] 0000 -> 1122",   // in hvm_hw_cpu's order: fpu_regs comes first
                "CPU vcpu 0: rip 0x7c47 -> 0x7c49",
                "PIC instance 1: imr 0x8e -> 0xff");
        assertThat(HvmDiff.between(b, a).get(1)).isEqualTo(new HvmDiff.Difference("CPU", 0, true, "rip", "0x7c49", "0x7c47"));
    }

    @Test
    void aBitfieldChangeShowsInEveryViewOfItsBits() throws HvmContextException {
        HvmContext a = hvm();
        HvmContext b = a.withField("IOAPIC", 0, "redirtbl[5].fields.mask", BigInteger.ZERO);
        assertThat(HvmDiff.between(a, b)).extracting(HvmDiff.Difference::toString).containsExactly(
                "IOAPIC instance 0: redirtbl[5].bits 0x10000 -> 0x0",
                "IOAPIC instance 0: redirtbl[5].fields.mask 0x1 -> 0x0");
    }

    /** The PVH guest has no emulated PIC, IOAPIC, PIT, RTC, HPET or PM timer: those records are the HVM one's only. */
    @Test
    void recordsOnOneSideOnly() throws HvmContextException {
        HvmContext pvh = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        List<HvmDiff.Difference> d = HvmDiff.between(hvm(), pvh);
        assertThat(d).filteredOn(x -> x.field() == null).extracting(HvmDiff.Difference::toString).containsExactly(
                "PIC instance 0: 8 bytes -> (absent)", "PIC instance 1: 8 bytes -> (absent)",
                "IOAPIC instance 0: 400 bytes -> (absent)", "PIT instance 0: 56 bytes -> (absent)",
                "RTC instance 0: 24 bytes -> (absent)", "HPET instance 0: 1048 bytes -> (absent)",
                "PMTIMER instance 0: 8 bytes -> (absent)");
        assertThat(d).extracting(HvmDiff.Difference::toString).contains("CPU vcpu 0: rip 0x7c47 -> 0xffffffff81a592eb",
                "HEADER instance 0: gtsc_khz 0x1ffb99 -> 0x279d24", "MTRR vcpu 0: msr_mtrr_def_type 0xc06 -> 0x806");
    }

    @Test
    void lengthsEndAndTrailingBytes() throws HvmContextException {
        HvmContext a = HvmContext.parse(Streams.withHeader().record(Streams.RTC, 0, new byte[16]).end().toBytes(), XEN_4_17);
        byte[] rtc = new byte[24];
        rtc[16] = 1;
        HvmContext b = HvmContext.parse(Streams.withHeader().record(Streams.RTC, 0, rtc).descriptor(0, 0, 5)
                .bytes(new byte[] {1, 2}).toBytes(), XEN_4_17);
        assertThat(HvmDiff.between(a, b)).extracting(HvmDiff.Difference::toString).containsExactly(
                "RTC instance 0: length 16 -> 24",
                "RTC instance 0: rtc_offset (absent) -> 0x1",
                "END instance 0: length 0x0 -> 0x5",
                "END instance 0: trailing[0..1] (absent) -> 0102");
    }

    /**
     * Pairing by (typecode, instance, occurrence), checked against the obvious way (a map keyed by all
     * three) on streams of random shape: repeated pairs, reordered records, records on one side only,
     * and streams of the same shape (which pair record by record).
     */
    @Test
    void recordsPairByTypecodeInstanceAndOccurrence() throws HvmContextException {
        java.util.Random random = new java.util.Random(0x16_03);
        for (int round = 0; round < 500; round++) {
            List<int[]> a = randomRecords(random);
            List<int[]> b = random.nextInt(4) == 0 ? sameShape(a, random) : randomRecords(random);
            assertThat(HvmDiff.between(unknownRecords(a), unknownRecords(b))).extracting(HvmDiff.Difference::toString)
                    .as("round %d: %s against %s", round, show(a), show(b))
                    .containsExactlyElementsOf(expectedDiff(a, b));
        }
    }

    /** Records {typecode, instance, one body byte} of typecodes Xen has no type for, so each is one raw byte. */
    private static List<int[]> randomRecords(java.util.Random random) {
        List<int[]> out = new java.util.ArrayList<>();
        for (int i = random.nextInt(12); i > 0; i--) {
            out.add(new int[] {30 + random.nextInt(3), random.nextInt(3), random.nextInt(3)});
        }
        return out;
    }

    private static List<int[]> sameShape(List<int[]> a, java.util.Random random) {
        return a.stream().map(r -> new int[] {r[0], r[1], random.nextInt(3)}).toList();
    }

    private static HvmContext unknownRecords(List<int[]> records) throws HvmContextException {
        Streams s = Streams.withHeader();
        records.forEach(r -> s.record(r[0], r[1], new byte[] {(byte) r[2]}));
        return HvmContext.parse(s.end().toBytes(), XEN_4_17);
    }

    private static String show(List<int[]> records) {
        return records.stream().map(java.util.Arrays::toString).toList().toString();
    }

    /** The differences as a map from (typecode, instance, occurrence) to the record says they are. */
    private static List<String> expectedDiff(List<int[]> a, List<int[]> b) {
        java.util.Map<List<Integer>, int[]> left = keyed(a);
        java.util.Map<List<Integer>, int[]> right = keyed(b);
        List<String> out = new java.util.ArrayList<>();
        left.forEach((key, ra) -> {
            int[] rb = right.get(key);
            String name = "TYPE_" + ra[0] + " instance " + ra[1] + ": ";
            if (rb == null) {
                out.add(name + "1 bytes -> (absent)");
            } else if (ra[2] != rb[2]) {
                out.add(name + "raw[0] 0" + ra[2] + " -> 0" + rb[2]);
            }
        });
        right.forEach((key, rb) -> {
            if (!left.containsKey(key)) {
                out.add("TYPE_" + rb[0] + " instance " + rb[1] + ": (absent) -> 1 bytes");
            }
        });
        return out;
    }

    private static java.util.Map<List<Integer>, int[]> keyed(List<int[]> records) {
        java.util.Map<List<Integer>, int[]> out = new java.util.LinkedHashMap<>();
        java.util.Map<List<Integer>, Integer> seen = new java.util.HashMap<>();
        for (int[] r : records) {
            int n = seen.merge(List.of(r[0], r[1]), 1, Integer::sum);
            out.put(List.of(r[0], r[1], n), r);
        }
        return out;
    }

    /**
     * A byte string reports its first {@link HvmDiff#MAX_RUNS} runs, then one summary of the rest, then the
     * bytes one side lacks; a run or a one-sided value longer than {@link HvmDiff#MAX_HEX_BYTES} is cut.
     */
    @Test
    void aByteStringReportsBoundedRunsAndCutHex() throws HvmContextException {
        byte[] raw = new byte[1000];
        byte[] other = new byte[1100];
        for (int i = 0; i < 200; i++) {
            other[4 * i] = 1; // 200 runs of one byte: 0, 4, 8, ..., 796
        }
        java.util.Arrays.fill(other, 900, 1000, (byte) 2); // and one of 100 bytes: 201 runs
        HvmContext a = HvmContext.parse(Streams.withHeader().record(30, 0, raw).end().toBytes(), XEN_4_17);
        HvmContext b = HvmContext.parse(Streams.withHeader().record(30, 0, other).end().toBytes(), XEN_4_17);
        List<HvmDiff.Difference> d = HvmDiff.between(a, b);
        assertThat(d).hasSize(1 + HvmDiff.MAX_RUNS + 2);
        assertThat(d.get(0).toString()).isEqualTo("TYPE_30 instance 0: length 1000 -> 1100");
        assertThat(d.get(1).toString()).isEqualTo("TYPE_30 instance 0: raw[0] 00 -> 01");
        assertThat(d.get(HvmDiff.MAX_RUNS).toString()).isEqualTo("TYPE_30 instance 0: raw[252] 00 -> 01");
        // the 136 one-byte runs from 256 to 796 and the 100-byte one
        assertThat(d.get(HvmDiff.MAX_RUNS + 1).toString())
                .isEqualTo("TYPE_30 instance 0: raw[256..999] 137 more runs of differing bytes (236 bytes) left out");
        assertThat(d.get(HvmDiff.MAX_RUNS + 1).leftOut()).isEqualTo(new HvmDiff.LeftOut(137, 236));
        assertThat(d.get(HvmDiff.MAX_RUNS + 1).a()).isNull();
        assertThat(d.get(HvmDiff.MAX_RUNS + 2).toString()).isEqualTo("TYPE_30 instance 0: raw[1000..1099] (absent) -> "
                + "00".repeat(HvmDiff.MAX_HEX_BYTES) + "...(100 bytes)");
    }
}
