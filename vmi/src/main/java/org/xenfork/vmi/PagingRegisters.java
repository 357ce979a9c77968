package org.xenfork.vmi;

import java.util.List;
import java.util.Optional;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmRecord;

/**
 * The registers that decide how one vCPU translates addresses: CR0, CR3, CR4 and EFER, as
 * the vCPU's CPU record ({@code struct hvm_hw_cpu}) of an HVM context holds them (Xen saves
 * the guest's own view: {@code guest_cr[]} and {@code guest_efer}, in
 * {@code hvm_save_cpu_ctxt}, {@code xen/arch/x86/hvm/hvm.c}).
 *
 * <pre>{@code
 * HvmContext ctx = HvmContext.parse(hypervisor.hvmContext(domid), release);
 * PagingRegisters cpu = PagingRegisters.of(ctx, 0);      // vCPU 0
 * Translation t = guestMemory.translate(cpu, 0xffffffff81000000L);
 * }</pre>
 *
 * A state no x86 CPU can be in is refused (IllegalArgumentException), since no walk would
 * say what the vCPU sees: CR0.PG without CR0.PE, and EFER.LMA without CR0.PG, EFER.LME or
 * CR4.PAE (a MOV to CR0/CR4 or WRMSR that would make these faults; Xen's loader refuses the
 * first two, {@code hvm_load_cpu_ctxt} and {@code hvm_efer_valid}).
 */
public record PagingRegisters(long cr0, long cr3, long cr4, long efer) {
    /** CR0.PE: protected mode. */
    public static final long CR0_PE = 1L;
    /** CR0.PG: paging. */
    public static final long CR0_PG = 1L << 31;
    /** CR4.PSE: 4 MiB pages in 32-bit paging. */
    public static final long CR4_PSE = 1L << 4;
    /** CR4.PAE: 8-byte entries (PAE paging, and long mode's paging). */
    public static final long CR4_PAE = 1L << 5;
    /** CR4.LA57: 5-level paging in long mode. */
    public static final long CR4_LA57 = 1L << 12;
    /** EFER.LME: long mode enabled. */
    public static final long EFER_LME = 1L << 8;
    /** EFER.LMA: long mode active (set by the CPU when LME and CR0.PG are). */
    public static final long EFER_LMA = 1L << 10;
    /** EFER.NXE: the XD bit (63) of PAE and long-mode entries is in use; reserved when clear. */
    public static final long EFER_NXE = 1L << 11;

    /** The fields of {@code struct hvm_hw_cpu} read, in the record's order. */
    private static final List<String> FIELDS = List.of("cr0", "cr3", "cr4", "msr_efer");

    public PagingRegisters {
        String problem = inconsistency(cr0, cr4, efer);
        if (problem != null) {
            throw new IllegalArgumentException(describe(cr0, cr3, cr4, efer) + ": " + problem
                    + "; no x86 CPU runs in this state, so no walk can say what this vCPU sees");
        }
    }

    /**
     * The registers of vCPU {@code vcpu} from its CPU record in {@code context} (the typed
     * record API: {@code cr0}, {@code cr3}, {@code cr4}, {@code msr_efer} of
     * {@code hvm_hw_cpu}).
     *
     * @throws GuestMemoryException if the context has no CPU record for that vCPU (one Xen
     *     never brought up has none), the record is too short to hold the four registers, or
     *     they describe a state no CPU can be in; the message names the vCPU
     */
    public static PagingRegisters of(HvmContext context, int vcpu) throws GuestMemoryException {
        Optional<HvmRecord> cpu = vcpu < 0 ? Optional.empty() : context.find("CPU", vcpu);
        if (cpu.isEmpty()) {
            List<Integer> have = context.vcpus();
            throw new GuestMemoryException("vCPU " + vcpu + ": the HVM context has no CPU record for it ("
                    + (have.isEmpty() ? "it has none at all" : "it has vCPU" + (have.size() == 1 ? " " : "s ") + have)
                    + "), so there are no page-table registers to walk with; choose one of the vCPUs it has");
        }
        HvmRecord r = cpu.get();
        long[] v = new long[FIELDS.size()];
        for (int i = 0; i < v.length; i++) {
            try {
                v[i] = r.number(FIELDS.get(i));
            } catch (IllegalArgumentException e) {
                // A short record (Xen's loader reads the rest as zero) never comes from a Xen save:
                // guessing zero registers would answer a walk with a mode the vCPU may not be in.
                throw new GuestMemoryException("vCPU " + vcpu + ": its CPU record cannot give " + FIELDS.get(i)
                        + ": " + e.getMessage(), e);
            }
        }
        try {
            return new PagingRegisters(v[0], v[1], v[2], v[3]);
        } catch (IllegalArgumentException e) {
            throw new GuestMemoryException("vCPU " + vcpu + ": " + e.getMessage(), e);
        }
    }

    /**
     * The paging mode these registers select, as the SDM (vol. 3A, 4.1.1) and Xen's
     * {@code hap_paging_get_mode} ({@code xen/arch/x86/mm/hap/hap.c}) choose it: no paging
     * without CR0.PG; else long mode when EFER.LMA is set (5-level with CR4.LA57); else PAE
     * with CR4.PAE; else 32-bit paging.
     */
    public PagingMode mode() {
        if ((cr0 & CR0_PG) == 0) {
            return PagingMode.NONE;
        }
        if ((efer & EFER_LMA) != 0) {
            return (cr4 & CR4_LA57) != 0 ? PagingMode.LEVEL5 : PagingMode.LEVEL4;
        }
        return (cr4 & CR4_PAE) != 0 ? PagingMode.PAE : PagingMode.BIT32;
    }

    /** Whether 32-bit paging maps 4 MiB pages (CR4.PSE); PAE and long mode always may. */
    public boolean pse() {
        return (cr4 & CR4_PSE) != 0;
    }

    /** Whether bit 63 of a PAE or long-mode entry is the XD bit (EFER.NXE) rather than reserved. */
    public boolean nxe() {
        return (efer & EFER_NXE) != 0;
    }

    private static String inconsistency(long cr0, long cr4, long efer) {
        boolean pg = (cr0 & CR0_PG) != 0;
        if (pg && (cr0 & CR0_PE) == 0) {
            return "CR0.PG is set without CR0.PE";
        }
        if ((efer & EFER_LMA) != 0) {
            if (!pg) {
                return "EFER.LMA is set without CR0.PG";
            }
            if ((efer & EFER_LME) == 0) {
                return "EFER.LMA is set without EFER.LME";
            }
            if ((cr4 & CR4_PAE) == 0) {
                return "EFER.LMA is set without CR4.PAE";
            }
        }
        return null;
    }

    private static String describe(long cr0, long cr3, long cr4, long efer) {
        return "CR0 " + hex(cr0) + ", CR3 " + hex(cr3) + ", CR4 " + hex(cr4) + ", EFER " + hex(efer);
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    /** {@code CR0 0x80050033, CR3 0x5694000, CR4 0x506f0, EFER 0xd01 (4-level paging)}. */
    @Override
    public String toString() {
        return describe(cr0, cr3, cr4, efer) + " (" + mode() + ")";
    }
}
