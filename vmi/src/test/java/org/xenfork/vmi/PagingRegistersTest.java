package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.testfixtures.HvmSamples;

class PagingRegistersTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    @Test
    void theModeFollowsPgThenLmaThenPaeAndLa57() {
        long pg = Cpus.CR0_PAGED;
        assertThat(new PagingRegisters(Cpus.CR0_UNPAGED, 0, Cpus.CR4_PAE | Cpus.CR4_LA57, 0).mode())
                .isEqualTo(PagingMode.NONE);
        assertThat(new PagingRegisters(0x10, 0, 0, 0).mode()).isEqualTo(PagingMode.NONE);   // real mode
        assertThat(new PagingRegisters(pg, 0, 0, 0).mode()).isEqualTo(PagingMode.BIT32);
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PSE, 0).mode()).isEqualTo(PagingMode.BIT32);
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PAE, 0).mode()).isEqualTo(PagingMode.PAE);
        // LME alone (set before CR0.PG in the switch to long mode) is not long mode: LMA is.
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PAE, PagingRegisters.EFER_LME).mode()).isEqualTo(PagingMode.PAE);
        // LA57 matters only in long mode.
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PAE | Cpus.CR4_LA57, 0).mode()).isEqualTo(PagingMode.PAE);
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PAE, Cpus.EFER_LONG).mode()).isEqualTo(PagingMode.LEVEL4);
        assertThat(new PagingRegisters(pg, 0, Cpus.CR4_PAE | Cpus.CR4_LA57, Cpus.EFER_LONG).mode())
                .isEqualTo(PagingMode.LEVEL5);
    }

    @Test
    void pseAndNxeAreReadFromCr4AndEfer() {
        PagingRegisters r = new PagingRegisters(Cpus.CR0_PAGED, 0, Cpus.CR4_PSE, 0);
        assertThat(r.pse()).isTrue();
        assertThat(r.nxe()).isFalse();
        r = new PagingRegisters(Cpus.CR0_PAGED, 0, Cpus.CR4_PAE, Cpus.EFER_NXE);
        assertThat(r.pse()).isFalse();
        assertThat(r.nxe()).isTrue();
    }

    @Test
    void statesNoCpuCanBeInAreRefused() {
        assertRefused(0x8000_0000L, 0, 0, "CR0.PG is set without CR0.PE");
        assertRefused(Cpus.CR0_UNPAGED, Cpus.CR4_PAE, Cpus.EFER_LONG, "EFER.LMA is set without CR0.PG");
        assertRefused(Cpus.CR0_PAGED, Cpus.CR4_PAE, PagingRegisters.EFER_LMA, "EFER.LMA is set without EFER.LME");
        assertRefused(Cpus.CR0_PAGED, 0, Cpus.EFER_LONG, "EFER.LMA is set without CR4.PAE");
    }

    private static void assertRefused(long cr0, long cr4, long efer, String why) {
        assertThatThrownBy(() -> new PagingRegisters(cr0, 0x1000, cr4, efer)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CR0 0x" + Long.toHexString(cr0) + ", CR3 0x1000, CR4 0x" + Long.toHexString(cr4)
                        + ", EFER 0x" + Long.toHexString(efer) + ": " + why)
                .hasMessageContaining("no x86 CPU runs in this state");
    }

    @Test
    void theRealHvmSampleIsInRealModeWithoutPaging() throws Exception {
        // xen-hvmctx: cr0 0x10, cr3 0, cr4 0, efer 0 (a boot sector in real mode).
        HvmContext ctx = HvmContext.parse(HvmSamples.bytes(HvmSamples.HVM), XEN_4_17);
        PagingRegisters r = PagingRegisters.of(ctx, 0);
        assertThat(r).isEqualTo(new PagingRegisters(0x10, 0, 0, 0));
        assertThat(r.mode()).isEqualTo(PagingMode.NONE);
    }

    @Test
    void theRealPvhSampleIsA64BitKernelWith4LevelPaging() throws Exception {
        // xen-hvmctx: cr0 0x80050033, cr3 0x5694000, cr4 0x506f0 (PAE, PSE, no LA57), efer 0xd01 (LMA, LME, NXE).
        HvmContext ctx = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        PagingRegisters r = PagingRegisters.of(ctx, 0);
        assertThat(r).isEqualTo(new PagingRegisters(0x8005_0033L, 0x569_4000L, 0x5_06f0L, 0xd01L));
        assertThat(r.mode()).isEqualTo(PagingMode.LEVEL4);
        assertThat(r.nxe()).isTrue();
        assertThat(r.toString()).isEqualTo("CR0 0x80050033, CR3 0x5694000, CR4 0x506f0, EFER 0xd01 (4-level paging)");
    }

    @Test
    void aVcpuWithoutACpuRecordIsNamed() throws Exception {
        HvmContext ctx = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        assertThatThrownBy(() -> PagingRegisters.of(ctx, 1)).isInstanceOf(GuestMemoryException.class)
                .hasMessage("vCPU 1: the HVM context has no CPU record for it (it has vCPU [0]), so there are no"
                        + " page-table registers to walk with; choose one of the vCPUs it has");
        assertThatThrownBy(() -> PagingRegisters.of(ctx, -1)).isInstanceOf(GuestMemoryException.class)
                .hasMessageStartingWith("vCPU -1: the HVM context has no CPU record for it");
    }

    @Test
    void aContextWithNoCpuRecordAtAllSaysSo() throws Exception {
        HvmContext sample = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        HvmContext headerOnly = HvmContext.builder(XEN_4_17).record(1, 0, sample.header().body()).build();
        assertThatThrownBy(() -> PagingRegisters.of(headerOnly, 0)).isInstanceOf(GuestMemoryException.class)
                .hasMessageContaining("(it has none at all)");
    }

    @Test
    void aCpuRecordTooShortToHoldTheRegistersIsRefusedNotReadAsZero() throws Exception {
        HvmContext sample = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        // 600 bytes: the loader would zero-extend it; cr0 (at byte 656) is not in it.
        HvmContext shortCpu = HvmContext.builder(XEN_4_17).record(1, 0, sample.header().body())
                .record(2, 0, new byte[600]).build();
        assertThatThrownBy(() -> PagingRegisters.of(shortCpu, 0)).isInstanceOf(GuestMemoryException.class)
                .hasMessageStartingWith("vCPU 0: its CPU record cannot give cr0: cr0 lies beyond this 600-byte CPU record");
    }

    @Test
    void aCpuRecordWithImpossibleRegistersIsRefusedNamingTheVcpu() throws Exception {
        HvmContext sample = HvmContext.parse(HvmSamples.bytes(HvmSamples.PVH), XEN_4_17);
        HvmContext edited = sample.withField("CPU", 0, "cr4", BigInteger.valueOf(0x5_06d0L));   // PAE cleared
        assertThatThrownBy(() -> PagingRegisters.of(edited, 0)).isInstanceOf(GuestMemoryException.class)
                .hasMessageStartingWith("vCPU 0: CR0 0x80050033, CR3 0x5694000, CR4 0x506d0, EFER 0xd01: EFER.LMA is"
                        + " set without CR4.PAE");
    }
}
