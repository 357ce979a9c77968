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
}
