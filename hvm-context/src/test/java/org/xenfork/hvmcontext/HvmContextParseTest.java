package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.HvmSamples;

/**
 * Parsing: lossless on real streams of every release, every framing error
 * refused with the offset and the record, and each type's length rule as the
 * release's loader has it (exact, zero-extended, variable).
 */
class HvmContextParseTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");
    private static final XenRelease XEN_4_21 = XenRelease.parse("4.21");

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void realStreamsSerialiseToTheirOwnBytes(String release) throws HvmContextException {
        for (String sample : List.of(HvmSamples.HVM, HvmSamples.PVH)) {
            byte[] bytes = HvmSamples.bytes(sample);
            HvmContext ctx = HvmContext.parse(bytes, XenRelease.parse(release));
            assertThat(ctx.serialise()).as(sample).isEqualTo(bytes);
            assertThat(ctx.size()).isEqualTo(bytes.length);
            assertThat(ctx.vcpus()).containsExactly(0);
            assertThat(ctx.trailing()).isEmpty();
        }
    }

    @Test
    void theIndexReachesARecordWithoutCopyingAndAgreesWithTheParse() throws HvmContextException {
        byte[] bytes = HvmSamples.bytes(HvmSamples.HVM);
        HvmStreamIndex ix = HvmStreamIndex.of(bytes, XEN_4_17);
        HvmContext ctx = HvmContext.parse(bytes, XEN_4_17);
        assertThat(ix.count()).isEqualTo(ctx.records().size()).isEqualTo(17);
        int lapicRegs = ix.find(6, 0);
        assertThat(lapicRegs).isEqualTo(6);
        assertThat(ix.bodyOffset(lapicRegs)).isEqualTo(ctx.offsetOf(6) + 8);
        assertThat(ix.length(lapicRegs)).isEqualTo(1024);
        assertThat(ix.type(lapicRegs).map(RecordType::name)).contains("LAPIC_REGS");
        assertThat(ix.stream()).isSameAs(bytes);
        int pic1 = ix.find(3, 1);
        assertThat(ix.instance(pic1)).isEqualTo(1);
        assertThat(ix.find(2, 1)).as("no vCPU 1").isEqualTo(-1);
        assertThat(ix.endOffset()).isEqualTo(bytes.length - 8);
        long rip = ix.types().byName("cpu").orElseThrow().layout().leaf("rip").read(bytes, ix.bodyOffset(ix.find(2, 0)));
        assertThat(rip).isEqualTo(0x7c47);
    }

    @Test
    void everyTruncationIsRefusedNamingTheOffset() {
        byte[] bytes = HvmSamples.bytes(HvmSamples.HVM);
        for (int n = 0; n < bytes.length; n++) {
            byte[] cut = Arrays.copyOf(bytes, n);
            int len = n;
            assertThatThrownBy(() -> HvmContext.parse(cut, XEN_4_17)).as("first %d bytes", n)
                    .isInstanceOf(HvmContextException.class)
                    .satisfies(e -> {
                        HvmContextException h = (HvmContextException) e;
                        assertThat(h.offset()).isPresent();
                        assertThat(h.offset().getAsLong()).isBetween(0L, (long) len);
                        assertThat(h.getMessage()).matches("(offset|record \\d+ \\([A-Z_]+, instance \\d+\\) at offset) 0x[0-9a-f]+: .+");
                    });
        }
    }

    @Test
    void messagesNameTheRecordTheOffsetAndWhatIsWrong() {
        byte[] bytes = HvmSamples.bytes(HvmSamples.HVM);
        assertThatThrownBy(() -> HvmContext.parse(Arrays.copyOf(bytes, 1200), XEN_4_17)).hasMessage(
                "record 4 (IOAPIC, instance 0) at offset 0x450: length 400 runs past the end of the 1200-byte stream"
                        + " (88 bytes follow the descriptor)");
        assertThatThrownBy(() -> HvmContext.parse(Arrays.copyOf(bytes, 0x450 + 3), XEN_4_17))
                .hasMessage("offset 0x450: the stream ends 3 bytes into a 8-byte descriptor, without an END record");
        assertThatThrownBy(() -> HvmContext.parse(Arrays.copyOf(bytes, bytes.length - 8), XEN_4_17))
                .hasMessage("offset 0x1008: the stream ends after 17 records without an END record (typecode 0)");
        assertThatThrownBy(() -> HvmContext.parse(new byte[0], XEN_4_17))
                .hasMessage("offset 0x0: empty input: an HVM context starts with a 8-byte HEADER descriptor");
        for (long huge : new long[] {0xffff_ffffL, 0x8000_0000L, 0x7fff_ffffL, 401}) {
            byte[] edited = bytes.clone();
            Streams.le(4).putInt((int) huge).flip().get(edited, 0x450 + 4, 4);
            assertThatThrownBy(() -> HvmContext.parse(edited, XEN_4_17)).as("length %d", huge)
                    .hasMessageStartingWith("record 4 (IOAPIC, instance 0) at offset 0x450: length " + huge);
        }
    }

    @Test
    void garbageIsNotAnHvmContext() {
        byte[] text = "HVM save record for domain 1\nEntry 0: type 1 instance 0, length 24\n".getBytes(StandardCharsets.US_ASCII);
        assertThatThrownBy(() -> HvmContext.parse(text, XEN_4_17))
                .hasMessage("record 0 (TYPE_22088, instance 8269) at offset 0x0: not an HVM context: it starts with typecode"
                        + " 22088, not HEADER (1)");
        byte[] badMagic = Streams.withHeader().end().toBytes();
        badMagic[8] ^= 1;
        assertThatThrownBy(() -> HvmContext.parse(badMagic, XEN_4_17))
                .hasMessage("record 0 (HEADER, instance 0) at offset 0x0: not an HVM context: HEADER magic is 0x54381287,"
                        + " not HVM_FILE_MAGIC 0x54381286");
        byte[] badVersion = Streams.empty().record(Streams.HEADER, 0, Streams.header(0x54381286L, 2)).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(badVersion, XEN_4_17))
                .hasMessageEndingWith("HEADER version is 2; Xen's loader takes only HVM_FILE_VERSION 1");
    }

    @Test
    void headerComesFirstOnceWithItsExactLength() {
        byte[] twice = Streams.withHeader().record(Streams.HEADER, 0, Streams.header(0x54381286L, 1)).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(twice, XEN_4_17))
                .hasMessage("record 1 (HEADER, instance 0) at offset 0x20: HEADER again: Xen's loader takes HEADER only as the first record");
        byte[] shortHeader = Streams.empty().record(Streams.HEADER, 0, Arrays.copyOf(Streams.header(0x54381286L, 1), 23)).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(shortHeader, XEN_4_17))
                .hasMessage("record 0 (HEADER, instance 0) at offset 0x0: length 23: Xen 4.17's loader takes exactly 24 bytes for HEADER");
        byte[] endFirst = Streams.empty().end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(endFirst, XEN_4_17))
                .hasMessage("record 0 (END, instance 0) at offset 0x0: the stream starts with END; it must start with HEADER");
    }

    @Test
    void whatXenIgnoresOrRefusesIsKeptAsItWas() throws HvmContextException {
        byte[] odd = Streams.withHeader()
                .record(25, 3, new byte[] {1, 2, 3, 4, 5})       // a typecode Xen has no type for
                .record(Streams.PIC, 1, new byte[8])
                .descriptor(0, 7, 0x1234)                         // END with an instance and a length
                .bytes(new byte[] {9, 9, 9})                      // and bytes after it
                .toBytes();
        HvmContext ctx = HvmContext.parse(odd, XEN_4_17);
        assertThat(ctx.serialise()).isEqualTo(odd);
        HvmRecord unknown = ctx.records().get(1);
        assertThat(unknown.name()).isEqualTo("TYPE_25");
        assertThat(unknown.type()).isEmpty();
        assertThat(unknown.fields()).extracting(FieldValue::path, FieldValue::text).containsExactly(
                org.assertj.core.groups.Tuple.tuple("raw", "0102030405"));
        assertThat(ctx.endInstance()).isEqualTo(7);
        assertThat(ctx.endLength()).isEqualTo(0x1234);
        assertThat(ctx.trailing()).containsExactly(9, 9, 9);
        assertThatThrownBy(ctx::requireKnownTypes).hasMessage("record 1 (TYPE_25, instance 3) at offset 0x20: typecode 25"
                + " is no record type of Xen 4.17: its loader refuses the stream (EINVAL)");
    }

    @Test
    void aPerVcpuRecordForAVcpuTheDomainLacksIsRefusedBeforeLoading() throws Exception {
        HvmContext ctx = HvmContext.parse(Streams.withHeader().record(Streams.LAPIC_REGS, 0, new byte[1024])
                .record(Streams.PIC, 3, new byte[8])             // not per vCPU: its instance is no vCPU
                .record(Streams.LAPIC_REGS, 2, new byte[1024]).end().toBytes(), XEN_4_17);
        ctx.requireFits(3);
        assertThatThrownBy(() -> ctx.requireFits(2)).isInstanceOf(HvmContextException.class)
                .hasMessageStartingWith("record 3 (LAPIC_REGS, instance 2) at offset 0x")
                .hasMessageEndingWith("LAPIC_REGS vcpu 2, but the domain has vCPUs 0 to 1 (Xen's loader refuses it: EINVAL)");
    }

    @Test
    void exactLengthTypesTakeOnlyTheirSize() {
        byte[] pic9 = Streams.withHeader().record(Streams.PIC, 0, new byte[9]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(pic9, XEN_4_17))
                .hasMessage("record 1 (PIC, instance 0) at offset 0x20: length 9: Xen 4.17's loader takes exactly 8 bytes for PIC");
        byte[] regs = Streams.withHeader().record(Streams.LAPIC_REGS, 0, new byte[1023]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(regs, XEN_4_17)).hasMessageContaining("takes exactly 1024 bytes for LAPIC_REGS");
    }

    @Test
    void zeroExtendedTypesTakeShorterRecordsAndDecodeOnlyWhatIsThere() throws HvmContextException {
        byte[] rtc16 = Streams.withHeader().record(Streams.RTC, 0, new byte[16]).end().toBytes();   // Xen <= 4.12's RTC
        HvmRecord rtc = HvmContext.parse(rtc16, XEN_4_17).records().get(1);
        assertThat(rtc.missingBytes()).isEqualTo(8);
        assertThat(rtc.fields()).extracting(FieldValue::path).containsExactly("cmos_data", "cmos_index", "pad0");
        byte[] rtc25 = Streams.withHeader().record(Streams.RTC, 0, new byte[25]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(rtc25, XEN_4_17)).hasMessage("record 1 (RTC, instance 0) at offset 0x20:"
                + " length 25: Xen 4.17's loader takes at most 24 bytes for RTC (shorter records are zero-extended)");
        byte[] cpu1040 = Streams.withHeader().record(Streams.CPU, 0, new byte[1040]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(cpu1040, XEN_4_17)).hasMessageContaining("takes at most 1032 bytes for CPU");
    }

    /** A pre-3.4 CPU record (1016 bytes, no msr_tsc_aux) is read with Xen's compat layout, as _hvm_hw_fix_cpu would. */
    @Test
    void aCompatCpuRecordIsReadWithTheCompatLayout() throws HvmContextException {
        byte[] body = new byte[1016];
        Streams.le(8).putLong(0x1122_3344_5566_7788L).flip().get(body, 1000, 8);        // compat tsc @ 1000
        Streams.le(4).putInt(0x8000_0dab).flip().get(body, 1008, 4);                   // compat pending_event @ 1008
        HvmContext ctx = HvmContext.parse(Streams.withHeader().record(Streams.CPU, 0, body).end().toBytes(), XEN_4_17);
        HvmRecord cpu = ctx.records().get(1);
        assertThat(cpu.layout().orElseThrow().name()).isEqualTo("hvm_hw_cpu_compat");
        assertThat(cpu.number("tsc")).isEqualTo(0x1122_3344_5566_7788L);
        assertThat(cpu.number("pending_vector")).isEqualTo(0xab);
        assertThat(cpu.number("pending_valid")).isEqualTo(1);
        assertThat(cpu.fields()).extracting(FieldValue::path).doesNotContain("msr_tsc_aux", "flags", "pad0");
        // 1024 bytes (Xen 3.4 to 4.6: no flags, pad0): the native layout, zero-extended
        HvmRecord cpu1024 = HvmContext.parse(Streams.withHeader().record(Streams.CPU, 0, new byte[1024]).end().toBytes(),
                XEN_4_17).records().get(1);
        assertThat(cpu1024.layout().orElseThrow().name()).isEqualTo("hvm_hw_cpu");
        assertThat(cpu1024.fields()).extracting(FieldValue::path).contains("msr_tsc_aux", "tsc").doesNotContain("flags", "pad0");
    }

    @Test
    void variableLengthRecords() throws HvmContextException {
        byte[] msr = Streams.msrs(2, 0x48, 0x1, 0xda0, 0x2);                               // SPEC_CTRL, IA32_XSS
        HvmRecord msrs = HvmContext.parse(Streams.withHeader().record(Streams.CPU_MSR, 0, msr).end().toBytes(), XEN_4_17)
                .records().get(1);
        assertThat(msrs.fields()).extracting(FieldValue::toString).containsExactly("count=0x2", "msr[0].index=0x48",
                "msr[0]._rsvd=0x0", "msr[0].val=0x1", "msr[1].index=0xda0", "msr[1]._rsvd=0x0", "msr[1].val=0x2");
        assertThat(msrs.number("msr[1].val")).isEqualTo(2);
        byte[] none = Streams.withHeader().record(Streams.CPU_MSR, 0, Streams.msrs(0)).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(none, XEN_4_17)).hasMessage("record 1 (CPU_MSR, instance 0) at offset 0x20:"
                + " length 8: Xen 4.17's loader takes at least 24 bytes for CPU_MSR (8 + 16 x count, count >= 1)");
        byte[] miscounted = Streams.withHeader().record(Streams.CPU_MSR, 0, Streams.msrs(0xffff_ffffL, 0x48, 1)).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(miscounted, XEN_4_17)).hasMessageEndingWith(
                "length 24 does not match count 4294967295: CPU_MSR is 8 + 16 x count = 68719476728 bytes");

        byte[] xsave = new byte[600 + 256];
        xsave[600] = 0x5a;
        HvmRecord x = HvmContext.parse(Streams.withHeader().record(Streams.CPU_XSAVE, 0, xsave).end().toBytes(), XEN_4_17)
                .records().get(1);
        assertThat(x.fields()).extracting(FieldValue::path).startsWith("xfeature_mask", "xcr0", "xcr0_accum",
                "save_area.fpu_sse.x", "save_area.xsave_hdr.xstate_bv").endsWith("save_area.extended");
        assertThat(x.fields().get(x.fields().size() - 1).bytes()).hasSize(256).startsWith(0x5a);
        byte[] small = Streams.withHeader().record(Streams.CPU_XSAVE, 0, new byte[599]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(small, XEN_4_17)).hasMessageEndingWith("takes at least 600 bytes for CPU_XSAVE");
    }

    /** The releases whose declared hvm_hw_lapic is 32 bytes, as the message names them. */
    static String lapic32Releases() {
        return XenRelease.SUPPORTED.stream().filter(r -> Abi.forRelease(r).struct("hvm_hw_lapic").size() == 32)
                .map(XenRelease::toString).collect(java.util.stream.Collectors.joining(", "));
    }

    @Test
    void theLapicRecordFollowsTheRelease() throws HvmContextException {
        byte[] lapic32 = Streams.withHeader().record(Streams.LAPIC, 0, new byte[32]).end().toBytes();
        assertThatThrownBy(() -> HvmContext.parse(lapic32, XEN_4_17)).hasMessage("record 1 (LAPIC, instance 0) at offset 0x20:"
                + " length 32: Xen 4.17's loader takes at most 24 bytes for LAPIC (shorter records are zero-extended);"
                + " Xen " + lapic32Releases() + " write 32-byte LAPIC records (--xen X.Y chooses the rules)");
        HvmRecord l21 = HvmContext.parse(lapic32, XEN_4_21).records().get(1);
        assertThat(l21.fields()).extracting(FieldValue::path).containsExactly("apic_base_msr", "disabled", "timer_divisor",
                "tdt_msr", "pending_esr");
        byte[] lapic24 = Streams.withHeader().record(Streams.LAPIC, 0, new byte[24]).end().toBytes();
        HvmRecord old = HvmContext.parse(lapic24, XEN_4_21).records().get(1);
        assertThat(old.missingBytes()).isEqualTo(8);
        assertThat(old.fields()).extracting(FieldValue::path).doesNotContain("pending_esr");
        assertThat(HvmContext.parse(lapic24, XEN_4_21).serialise()).isEqualTo(lapic24);
    }

    @Test
    void theBuilderMakesWhatParseReads() throws HvmContextException {
        HvmContext built = HvmContext.builder(XEN_4_17).record(1, 0, Streams.header(0x54381286L, 1))
                .record(Streams.PIC, 1, new byte[8]).end(0, 0).trailing(new byte[] {7}).build();
        byte[] bytes = Streams.withHeader().record(Streams.PIC, 1, new byte[8]).end().bytes(new byte[] {7}).toBytes();
        assertThat(built.serialise()).isEqualTo(bytes);
        assertThat(built).isEqualTo(HvmContext.parse(bytes, XEN_4_17));
        assertThat(HvmContext.parse(bytes, XEN_4_21)).as("another release's rules").isNotEqualTo(built);
        assertThatThrownBy(() -> HvmContext.builder(XEN_4_17).record(Streams.PIC, 0, new byte[8]).build())
                .hasMessageContaining("not HEADER");
    }
}
