package org.xenfork.hvmcontext;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Field;
import org.xenfork.abi.HvmSaveType;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.RecordType.LengthRule;
import org.xenfork.hvmcontext.RecordType.Scope;

/**
 * The record types of one release, from {@code abi}'s {@code DECLARE_HVM_SAVE_TYPE}
 * lines, joined with how Xen registers and loads each ({@link #XEN}). Also the
 * stream's framing: the descriptor and header fields and the header's constants.
 */
public final class RecordTypes {
    private static final Map<XenRelease, RecordTypes> CACHE = new ConcurrentHashMap<>();

    /**
     * How Xen registers and loads each type: the same in every supported release (the kind of each
     * handler's HVM_REGISTER_SAVE_RESTORE, and whether its loader uses hvm_load_entry or
     * hvm_load_entry_zeroextend; xen/arch/x86/hvm/ and its asm/hvm/save.h).
     */
    private record Registration(Scope scope, LengthRule rule) {
    }

    private static final Map<String, Registration> XEN = Map.ofEntries(
            Map.entry("END", new Registration(Scope.STREAM, LengthRule.TERMINATOR)),
            Map.entry("HEADER", new Registration(Scope.STREAM, LengthRule.EXACT)),
            Map.entry("CPU", new Registration(Scope.VCPU, LengthRule.ZERO_EXTEND)),
            Map.entry("PIC", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("IOAPIC", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("LAPIC", new Registration(Scope.VCPU, LengthRule.ZERO_EXTEND)),
            Map.entry("LAPIC_REGS", new Registration(Scope.VCPU, LengthRule.EXACT)),
            Map.entry("PCI_IRQ", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("ISA_IRQ", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("PCI_LINK", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("PIT", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("RTC", new Registration(Scope.DOMAIN, LengthRule.ZERO_EXTEND)),
            Map.entry("HPET", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("PMTIMER", new Registration(Scope.DOMAIN, LengthRule.EXACT)),
            Map.entry("MTRR", new Registration(Scope.VCPU, LengthRule.EXACT)),
            Map.entry("VIRIDIAN_DOMAIN", new Registration(Scope.DOMAIN, LengthRule.ZERO_EXTEND)),
            Map.entry("CPU_XSAVE", new Registration(Scope.VCPU, LengthRule.AT_LEAST)),
            Map.entry("VIRIDIAN_VCPU", new Registration(Scope.VCPU, LengthRule.ZERO_EXTEND)),
            Map.entry("VMCE_VCPU", new Registration(Scope.VCPU, LengthRule.ZERO_EXTEND)),
            Map.entry("TSC_ADJUST", new Registration(Scope.VCPU, LengthRule.EXACT)),
            Map.entry("CPU_MSR", new Registration(Scope.VCPU, LengthRule.COUNTED)));

    private final XenRelease release;
    private final List<RecordType> all;
    private final RecordType[] byCode;
    private final RecordType header;
    private final RecordType end;
    final int descriptorSize;
    final Leaf typecode;
    final Leaf instance;
    final Leaf length;
    final Leaf magic;
    final Leaf version;
    final long fileMagic;
    final long fileVersion;

    private RecordTypes(Abi abi) {
        this.release = abi.release();
        List<RecordType> types = new ArrayList<>();
        int max = 0;
        for (HvmSaveType t : abi.hvmSaveTypes()) {
            types.add(type(abi, t));
            max = Math.max(max, t.code());
        }
        this.all = List.copyOf(types);
        this.byCode = new RecordType[max + 1];
        all.forEach(t -> byCode[t.code()] = t);
        this.header = named("HEADER");
        this.end = named("END");
        StructLayout d = abi.struct("hvm_save_descriptor");
        this.descriptorSize = d.size();
        this.typecode = d.leaf("typecode");
        this.instance = d.leaf("instance");
        this.length = d.leaf("length");
        this.magic = header.layout().leaf("magic");
        this.version = header.layout().leaf("version");
        this.fileMagic = abi.constant("HVM_FILE_MAGIC");
        this.fileVersion = abi.constant("HVM_FILE_VERSION");
    }

    /** The types of a supported release (built once, then shared: immutable). */
    public static RecordTypes forRelease(XenRelease release) {
        return CACHE.computeIfAbsent(release, r -> new RecordTypes(Abi.forRelease(r)));
    }

    public XenRelease release() {
        return release;
    }

    /** Every type the release declares, by code: END, HEADER, CPU, … CPU_MSR. */
    public List<RecordType> all() {
        return all;
    }

    /** The type with this code, or empty for a code Xen has no record type for (kept as raw bytes). */
    public Optional<RecordType> byCode(int code) {
        return Optional.ofNullable(typeOrNull(code));
    }

    /** A type by Xen's name, any case ({@code cpu}, {@code LAPIC_REGS}). */
    public Optional<RecordType> byName(String name) {
        String n = name.strip().toUpperCase(Locale.ROOT);
        return all.stream().filter(t -> t.name().equals(n)).findFirst();
    }

    public RecordType header() {
        return header;
    }

    public RecordType end() {
        return end;
    }

    /** {@link #byCode} without the Optional, for the indexing loop. */
    RecordType typeOrNull(int code) {
        return code >= 0 && code < byCode.length ? byCode[code] : null;
    }

    /** The name used for a typecode: Xen's, or {@code TYPE_<code>} for one it has none for. */
    public String nameOf(int code) {
        return byCode(code).map(RecordType::name).orElse("TYPE_" + code);
    }

    private RecordType named(String name) {
        return byName(name).orElseThrow(() -> new IllegalStateException("Xen " + release + "'s ABI declares no " + name
                + " save record type"));
    }

    private static RecordType type(Abi abi, HvmSaveType t) {
        Registration r = XEN.get(t.name());
        if (r == null) {
            throw new IllegalStateException("HVM save type " + t.name() + " (Xen " + abi.release()
                    + ") has no registration in RecordTypes.XEN: add how Xen saves and loads it");
        }
        if (r.rule() != LengthRule.COUNTED) {
            return new RecordType(t, r.scope(), r.rule(), abi.release(), 0, null, null);
        }
        // CPU_MSR: struct hvm_msr { uint32_t count; struct hvm_one_msr msr[]; }, all from the layout
        Field array = t.struct().fields().stream().filter(f -> f.kind() == Field.Kind.FLEXIBLE_ARRAY).findFirst()
                .orElseThrow(() -> new IllegalStateException(t.name() + ": " + t.struct().name() + " has no flexible array"));
        String elementTag = array.type().replaceFirst("^struct ", "").replace("[]", "");
        return new RecordType(t, r.scope(), r.rule(), abi.release(), array.offset(), abi.struct(elementTag),
                t.struct().leaf("count"));
    }
}
