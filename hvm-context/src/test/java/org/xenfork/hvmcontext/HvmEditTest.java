package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.HvmSamples;

/**
 * Setting fields: exactly the field's bytes change, values are checked against the field and Xen's limits.
 * Editing works on the declared layout of whichever release; 4.17's (Debian 12's) stands for all.
 */
class HvmEditTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");
    private static final BigInteger PATTERN = new BigInteger("a5a5a5a5a5a5a5a5", 16);

    private static HvmContext sample() throws HvmContextException {
        return HvmContext.parse(HvmSamples.bytes(HvmSamples.HVM), XEN_4_17);
    }

    /**
     * Every register of the CPU record (GPRs, rip, rflags, control and debug
     * registers, segments, MSRs, the pending event and its bitfields) can be set,
     * reads back, and changes only its own bits of the stream.
     */
    @Test
    void everyCpuFieldCanBeSetAndChangesOnlyItsBits() throws HvmContextException {
        HvmContext ctx = sample();
        byte[] before = ctx.serialise();
        int body = ctx.offsetOf(1) + 8;
        StructLayout cpu = ctx.find("CPU", 0).orElseThrow().layout().orElseThrow();
        int checked = 0;
        for (Leaf leaf : cpu.leaves()) {
            if (leaf.path().equals("pad0") || leaf.path().equals("flags")) {
                continue; // Xen's own limits: see xenLimitsAreCheckedWithTheirReason
            }
            long mask = leaf.mask();
            if (leaf.path().matches("(cs|ds|es|fs|gs|ss|tr|ldtr)_(sel|arbytes)")) {
                mask = 0xffff;
            } else if (leaf.path().matches("dr[67]")) {
                mask = 0xffff_ffffL;
            }
            long value = PATTERN.longValue() & mask;
            HvmContext edited = ctx.withField("CPU", 0, leaf.path(), BigInteger.valueOf(value).and(unsigned(mask)));
            assertThat(edited.find("CPU", 0).orElseThrow().number(leaf.path())).as(leaf.path()).isEqualTo(value);
            byte[] after = edited.serialise();
            List<Integer> changed = new ArrayList<>();
            for (int i = 0; i < after.length; i++) {
                if (after[i] != before[i]) {
                    changed.add(i - body);
                }
            }
            int first = leaf.bitOffset() / 8;
            int last = (leaf.bitOffset() + leaf.bitWidth() - 1) / 8;
            assertThat(changed).as("bytes of the CPU body %s changed", leaf.path()).allMatch(i -> i >= first && i <= last);
            checked++;
        }
        assertThat(checked).as("every leaf but pad0 and flags").isEqualTo(cpu.leaves().size() - 2).isGreaterThan(590);
    }

    @Test
    void settingTheValueAFieldHasGivesTheSameBytes() throws HvmContextException {
        HvmContext ctx = sample();
        HvmContext same = ctx.withField("CPU", 0, "rip", BigInteger.valueOf(0x7c47))
                .withField("PIC", 1, "imr", BigInteger.valueOf(0x8e))
                .withField("IOAPIC", 0, "redirtbl[0].fields.vector", BigInteger.ZERO);
        assertThat(same.serialise()).isEqualTo(HvmSamples.bytes(HvmSamples.HVM));
        assertThat(same).isEqualTo(ctx);
    }

    @Test
    void bitfieldsAreSetAsGccWouldAndTheUnionMemberFollows() throws HvmContextException {
        HvmContext ctx = sample()
                .withField("CPU", 0, "pending_vector", BigInteger.valueOf(0xab))
                .withField("CPU", 0, "pending_type", BigInteger.valueOf(5))
                .withField("CPU", 0, "pending_error_valid", BigInteger.ONE)
                .withField("CPU", 0, "pending_valid", BigInteger.ONE);
        assertThat(ctx.find("CPU", 0).orElseThrow().number("pending_event")).isEqualTo(0x80000dabL); // gcc's bit order
        HvmContext masked = sample().withField("IOAPIC", 0, "redirtbl[0].fields.mask", BigInteger.ONE);
        assertThat(masked.find("IOAPIC", 0).orElseThrow().number("redirtbl[0].bits")).isEqualTo(0x10700);
        assertThat(sample().withField("PIC", 0, "init_state", BigInteger.valueOf(0xf)).find("PIC", 0).orElseThrow()
                .number("priority_add")).isZero();
    }

    @Test
    void valuesThatDoNotFitAreRefusedNamingFieldAndRange() throws HvmContextException {
        HvmContext ctx = sample();
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "rip", BigInteger.ONE.shiftLeft(64)))
                .hasMessage("record 1 (CPU, instance 0) at offset 0x20: rip is uint64_t (64 bits): value 0x10000000000000000"
                        + " does not fit (allowed 0 .. 0xffffffffffffffff)");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "rax", BigInteger.valueOf(-1)))
                .hasMessageEndingWith("rax is uint64_t (unsigned): negative value -1 is not allowed");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "pending_type", BigInteger.valueOf(8)))
                .hasMessageEndingWith("pending_type is a 3-bit bitfield of uint8_t: value 0x8 does not fit (allowed 0 .. 0x7)");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "ripp", BigInteger.ONE))
                .hasMessageContaining("no field \"ripp\" in hvm_hw_cpu; nearest: rip");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "fpu_regs", BigInteger.ONE))
                .hasMessageContaining("fpu_regs in hvm_hw_cpu is an array");
        assertThatThrownBy(() -> ctx.withField("CPU", 1, "rip", BigInteger.ONE))
                .hasMessage("the stream has no CPU record with instance 1; it has instances [0]");
        assertThatThrownBy(() -> ctx.withField("CPU_MSR", 0, "count", BigInteger.ONE))
                .hasMessage("the stream has no CPU_MSR record with instance 0 (none at all)");
        assertThatThrownBy(() -> ctx.withField("VCPU", 0, "rip", BigInteger.ONE))
                .hasMessageStartingWith("no record type VCPU in Xen 4.17; types: END, HEADER, CPU, PIC");
    }

    @Test
    void xenLimitsAreCheckedWithTheirReason() throws HvmContextException {
        HvmContext ctx = sample();
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "cs_sel", BigInteger.valueOf(0x10000)))
                .hasMessageEndingWith("cs_sel is uint32_t in the record, but Xen keeps it in a 16-bit field"
                        + " (struct segment_register): value 0x10000 does not fit (allowed 0 .. 0xffff)");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "ss_arbytes", BigInteger.valueOf(0x1c093)))
                .hasMessageContaining("allowed 0 .. 0xffff");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "dr7", BigInteger.ONE.shiftLeft(32)))
                .hasMessageEndingWith("dr7: the upper 32 bits are reserved and Xen's loader refuses them: value 0x100000000"
                        + " does not fit (allowed 0 .. 0xffffffff)");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "pad0", BigInteger.ONE)).hasMessageContaining("pad0 must be 0");
        assertThatThrownBy(() -> ctx.withField("CPU", 0, "flags", BigInteger.TWO))
                .hasMessageContaining("the only flag is XEN_X86_FPU_INITIALISED");
        assertThat(ctx.withField("CPU", 0, "flags", BigInteger.ONE).find("CPU", 0).orElseThrow().number("flags")).isEqualTo(1);
        assertThat(ctx.withField("CPU", 0, "cs_sel", BigInteger.valueOf(0xffff)).find("CPU", 0).orElseThrow()
                .number("cs_sel")).isEqualTo(0xffff);
    }

    @Test
    void msrEntriesAndShortRecords() throws HvmContextException {
        HvmContext ctx = HvmContext.parse(Streams.withHeader()
                .record(Streams.CPU_MSR, 0, Streams.msrs(1, 0x48, 1))
                .record(Streams.RTC, 0, new byte[16]).end().toBytes(), XEN_4_17);
        HvmContext edited = ctx.withField("CPU_MSR", 0, "msr[0].val", BigInteger.valueOf(3));
        assertThat(edited.find("CPU_MSR", 0).orElseThrow().number("msr[0].val")).isEqualTo(3);
        assertThatThrownBy(() -> ctx.withField("CPU_MSR", 0, "msr[1].val", BigInteger.ONE))
                .hasMessageEndingWith("msr[1]: this CPU_MSR record has 1 entries (0 .. 0)");
        assertThatThrownBy(() -> ctx.withField("CPU_MSR", 0, "msr[0]._rsvd", BigInteger.ONE))
                .hasMessageEndingWith("msr[0]._rsvd must be 0: Xen's loader refuses an MSR entry with _rsvd set (allowed 0)");
        assertThatThrownBy(() -> ctx.withField("RTC", 0, "rtc_offset", BigInteger.ONE))
                .hasMessageEndingWith("rtc_offset lies beyond this 16-byte RTC record (it ends at byte 24 of hvm_hw_rtc;"
                        + " the loader would read it as zero)");
        assertThat(ctx.withField("RTC", 0, "cmos_data[3]", BigInteger.valueOf(0x59)).find("RTC", 0).orElseThrow()
                .number("cmos_data[3]")).isEqualTo(0x59);
    }

    private static BigInteger unsigned(long mask) {
        return new BigInteger(Long.toUnsignedString(mask));
    }
}
