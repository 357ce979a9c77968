package org.xenfork.hvmcontext;

import java.util.List;
import java.util.Optional;
import org.xenfork.abi.Abi;
import org.xenfork.abi.HvmSaveType;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;

/**
 * One HVM save record type of one Xen release: its name and code and layout as
 * {@code abi} declares them, how Xen registers its handler (once per vCPU or
 * once per domain) and how Xen's loader checks a record's length
 * (each handler's {@code HVM_REGISTER_SAVE_RESTORE} under xen/arch/x86/hvm/, and
 * {@code hvm_load_entry} or {@code hvm_load_entry_zeroextend} in its loader).
 */
public final class RecordType {

    /** Whose state a record holds: what its descriptor's {@code instance} counts. */
    public enum Scope {
        /** HEADER and END: the stream's own, instance 0. */
        STREAM,
        /** {@code HVMSR_PER_VCPU}: one record per vCPU, instance = vcpu_id. */
        VCPU,
        /** {@code HVMSR_PER_DOM}: instance 0 (PIC: 0 master, 1 slave). */
        DOMAIN
    }

    /** How the release's loader checks a record's length. */
    public enum LengthRule {
        /** END: the loader stops at typecode 0 and reads neither its instance nor its length. */
        TERMINATOR,
        /** {@code hvm_load_entry}, {@code hvm_get_entry}: exactly {@code sizeof}. */
        EXACT,
        /** {@code hvm_load_entry_zeroextend}: at most {@code sizeof}; the rest is loaded as zeros. */
        ZERO_EXTEND,
        /** CPU_XSAVE: at least the fixed part (the legacy area and the XSAVE header); the xsave components follow. */
        AT_LEAST,
        /** CPU_MSR: the fixed part and {@code count} array elements, at least one ({@code HVM_CPU_MSR_SIZE}). */
        COUNTED
    }

    private final HvmSaveType saveType;
    private final Scope scope;
    private final LengthRule rule;
    private final XenRelease release;
    /** COUNTED only: the flexible array's offset, its element layout, and the count field. */
    private final int arrayOffset;
    private final StructLayout element;
    private final Leaf count;

    RecordType(HvmSaveType saveType, Scope scope, LengthRule rule, XenRelease release, int arrayOffset,
               StructLayout element, Leaf count) {
        this.saveType = saveType;
        this.scope = scope;
        this.rule = rule;
        this.release = release;
        this.arrayOffset = arrayOffset;
        this.element = element;
        this.count = count;
    }

    /** Xen's name: {@code CPU}, {@code LAPIC_REGS}, {@code CPU_MSR}. */
    public String name() {
        return saveType.name();
    }

    /** {@code HVM_SAVE_CODE(name)}. */
    public int code() {
        return saveType.code();
    }

    public Scope scope() {
        return scope;
    }

    public LengthRule rule() {
        return rule;
    }

    /** {@code sizeof} the record's struct: the whole body, or the fixed part of a variable-length one. */
    public int length() {
        return saveType.length();
    }

    /** The native layout ({@code hvm_hw_cpu} for CPU). */
    public StructLayout layout() {
        return saveType.struct();
    }

    /**
     * The layout a body of {@code length} bytes is read with: Xen's compat layout
     * when the length is exactly its size (a 1016-byte pre-3.4 CPU record, which the
     * loader's {@code _hvm_hw_fix_cpu} rearranges), else the native one.
     */
    public StructLayout layoutFor(int length) {
        Optional<StructLayout> compat = saveType.compat();
        return compat.isPresent() && compat.get().size() == length ? compat.get() : saveType.struct();
    }

    /** CPU_MSR's element ({@code hvm_one_msr}) and where the array starts; empty for other types. */
    Optional<StructLayout> element() {
        return Optional.ofNullable(element);
    }

    int arrayOffset() {
        return arrayOffset;
    }

    /**
     * Why the release's loader would refuse a record of this type with a body of
     * {@code length} bytes at {@code body} in {@code stream} (which holds the whole
     * body: the caller checked), or null when it takes it.
     */
    String lengthProblem(long length, byte[] stream, int body) {
        int size = length();
        switch (rule) {
            case EXACT:
                return length == size ? null
                        : "length " + length + ": " + loader() + " takes exactly " + size + " bytes for " + name()
                        + otherReleases(length);
            case ZERO_EXTEND:
                return length <= size ? null
                        : "length " + length + ": " + loader() + " takes at most " + size + " bytes for " + name()
                        + " (shorter records are zero-extended)" + otherReleases(length);
            case AT_LEAST:
                return length >= size ? null
                        : "length " + length + ": " + loader() + " takes at least " + size + " bytes for " + name();
            case COUNTED:
                long least = arrayOffset + (long) element.size();
                if (length < least) {
                    return "length " + length + ": " + loader() + " takes at least " + least + " bytes for " + name()
                            + " (" + arrayOffset + " + " + element.size() + " x count, count >= 1)";
                }
                long n = count.read(stream, body);
                long expected = arrayOffset + n * element.size();
                return length == expected ? null
                        : "length " + length + " does not match count " + n + ": " + name() + " is " + arrayOffset
                        + " + " + element.size() + " x count = " + expected + " bytes";
            default:
                return null;
        }
    }

    /** Only for messages: the hot path (indexing a valid stream) builds no strings. */
    private String loader() {
        return "Xen " + release + "'s loader";
    }

    /**
     * The releases whose records of this type are exactly {@code length} bytes, when
     * this one's are not: a 32-byte LAPIC read with 4.20's rules is a 4.21+ stream.
     */
    private String otherReleases(long length) {
        List<String> writers = XenRelease.SUPPORTED.stream()
                .filter(r -> Abi.forRelease(r).hvmSaveTypes().stream()
                        .anyMatch(t -> t.name().equals(name()) && t.length() == length))
                .map(XenRelease::toString).toList();
        return writers.isEmpty() ? "" : "; Xen " + String.join(", ", writers) + " write" + (writers.size() == 1 ? "s " : " ")
                + length + "-byte " + name() + " records (--xen X.Y chooses the rules)";
    }

    @Override
    public String toString() {
        return name() + " (" + code() + ")";
    }
}
