package org.xenfork.hvmcontext;

import java.util.regex.Pattern;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;

/**
 * Limits on edited values beyond the width of the field's C type: where Xen
 * keeps a saved field in something narrower (and would silently drop bits) or
 * where its loader refuses the record ({@code hvm_load_cpu_ctxt} and the CPU_XSAVE
 * and CPU_MSR loaders in xen/arch/x86/hvm/hvm.c). Everything else a field
 * of its width holds is accepted; Xen's loader has the last word on the rest
 * (CR0/CR4/EFER consistency, canonical addresses, …).
 */
final class EditRules {
    /** Segment selectors and attributes: {@code struct segment_register} keeps {@code sel} and {@code attr} as uint16_t. */
    private static final Pattern SEGMENT_16_BITS = Pattern.compile("(cs|ds|es|fs|gs|ss|tr|ldtr)_(sel|arbytes)");
    /**
     * {@code XEN_X86_FPU_INITIALISED} (public/arch-x86/hvm/save.h), the one defined bit of {@code hvm_hw_cpu.flags};
     * declared with the HVM save records every release shares (hvm-save-x86.abi), so any release's ABI has it.
     */
    private static final long FPU_INITIALISED = Abi.anyRelease().constant("XEN_X86_FPU_INITIALISED");
    private static final Pattern MSR_RESERVED = Pattern.compile("msr\\[\\d+]\\._rsvd");

    private EditRules() {
    }

    /** Why {@code bits} may not be stored at {@code path} of a record of {@code type}, or null. */
    static String problem(String type, String path, Leaf leaf, long bits) {
        if (type.equals("CPU")) {
            if (SEGMENT_16_BITS.matcher(path).matches() && Long.compareUnsigned(bits, 0xffff) > 0) {
                return path + " is " + leaf.type() + " in the record, but Xen keeps it in a 16-bit field "
                        + "(struct segment_register): value " + hex(bits) + " does not fit (allowed 0 .. 0xffff)";
            }
            if ((path.equals("dr6") || path.equals("dr7")) && (bits >>> 32) != 0) {
                return path + ": the upper 32 bits are reserved and Xen's loader refuses them: value " + hex(bits)
                        + " does not fit (allowed 0 .. 0xffffffff)";
            }
            if (path.equals("pad0") && bits != 0) {
                return "pad0 must be 0: Xen's loader refuses a CPU record with pad0 set (allowed 0)";
            }
            if (path.equals("flags") && (bits & ~FPU_INITIALISED) != 0) {
                return "flags: the only flag is XEN_X86_FPU_INITIALISED (" + FPU_INITIALISED + "); Xen's loader refuses"
                        + " others (allowed 0 .. " + hex(FPU_INITIALISED) + ")";
            }
        }
        if (type.equals("CPU_MSR") && MSR_RESERVED.matcher(path).matches() && bits != 0) {
            return path + " must be 0: Xen's loader refuses an MSR entry with _rsvd set (allowed 0)";
        }
        return null;
    }

    private static String hex(long bits) {
        return "0x" + Long.toHexString(bits);
    }
}
