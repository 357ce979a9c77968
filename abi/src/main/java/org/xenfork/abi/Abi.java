package org.xenfork.abi;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The hypercall ABI of one Xen release on x86-64: its structs' layouts, its
 * constants (interface versions, hypercall and command numbers, flags) and its
 * HVM save record types, all read from {@code releases/xen-X.Y.abi}.
 *
 * <pre>{@code
 * Abi abi = Abi.forRelease(XenRelease.parse("4.17"));
 * long version = abi.constant("XEN_DOMCTL_INTERFACE_VERSION");   // 0x15
 * byte[] domctl = StructCodec.encode(abi.struct("xen_domctl"),
 *         Map.of("cmd", "1", "u.createdomain.max_vcpus", "2"));
 * }</pre>
 */
public final class Abi {
    private static final String FOLDER = "releases/";
    private static final Map<XenRelease, Abi> CACHE = new ConcurrentHashMap<>();

    private final XenRelease release;
    private final Map<String, StructLayout> structs;
    private final Map<String, String> structAliases;
    private final Map<String, Integer> typeSizes;
    private final Map<String, Long> constants;
    private final List<HvmSaveType> hvmSaveTypes;

    private Abi(XenRelease release, DeclarationParser.Declarations d) {
        this.release = release;
        Map<String, StructLayout> s = new LinkedHashMap<>();
        d.records.forEach((tag, record) -> s.put(tag, StructLayout.of(tag, record)));
        this.structs = Collections.unmodifiableMap(s);
        Map<String, String> aliases = new LinkedHashMap<>();
        Map<String, Integer> sizes = new LinkedHashMap<>();
        d.typedefs.forEach((name, type) -> {
            sizes.put(name, type.size());
            if (type instanceof CType.Record r && r.tag() != null) {
                aliases.put(name, r.tag());
            }
        });
        this.structAliases = Collections.unmodifiableMap(aliases);
        this.typeSizes = Collections.unmodifiableMap(sizes);
        this.constants = Collections.unmodifiableMap(new LinkedHashMap<>(d.constants));
        for (DeclarationParser.SelectorDecl sel : d.selectors) {
            attachSelector(sel);
        }
        List<HvmSaveType> hvm = new ArrayList<>();
        for (DeclarationParser.HvmTypeDecl h : d.hvmTypes) {
            StructLayout body = declared(h.struct(), h.where());
            Optional<StructLayout> compat = h.compat() == null ? Optional.empty() : Optional.of(declared(h.compat(), h.where()));
            if (hvm.stream().anyMatch(t -> t.code() == h.code() || t.name().equals(h.name()))) {
                throw new IllegalStateException(h.where() + ": HVM save type " + h.name() + " or code " + h.code()
                        + " declared twice");
            }
            hvm.add(new HvmSaveType(h.name(), h.code(), body, compat, h.variableLength()));
        }
        this.hvmSaveTypes = List.copyOf(hvm);
    }

    /**
     * An ABI for what no release has changed: hypercall numbers, {@code privcmd_hypercall},
     * {@code multicall_entry}, {@code XENVER_*}. For code that runs before the release is known.
     */
    public static Abi anyRelease() {
        return forRelease(XenRelease.SUPPORTED.get(0));
    }

    /** The ABI of a supported release (parsed once, then shared; it is immutable). */
    public static Abi forRelease(XenRelease release) {
        if (!XenRelease.SUPPORTED.contains(release)) {
            throw new AbiException("unsupported Xen release " + release + ": supported are " + XenRelease.supportedList());
        }
        return CACHE.computeIfAbsent(release, r -> parse(r, "xen-" + r + ".abi", Abi::readResource));
    }

    /** Reads {@code file} and what it includes through {@code files} (file name to text): tests of the language. */
    static Abi parse(XenRelease release, String file, Function<String, String> files) {
        return new Abi(release, DeclarationParser.parse(file, files));
    }

    public XenRelease release() {
        return release;
    }

    /**
     * A struct by its tag ({@code xen_domctl}), its typedef ({@code xen_compile_info_t}) or {@code struct tag};
     * a union declared at top level ({@code vioapic_redir_entry}) likewise, also as {@code union tag}.
     */
    public StructLayout struct(String name) {
        String n = name.strip();
        for (String keyword : new String[] {"struct ", "union "}) {
            if (n.startsWith(keyword)) {
                n = n.substring(keyword.length()).strip();
            }
        }
        StructLayout s = structs.get(structAliases.getOrDefault(n, n));
        if (s == null) {
            List<String> names = new ArrayList<>(structs.keySet());
            names.addAll(structAliases.keySet());
            throw new AbiException("no struct " + Values.quoted(name) + " in the Xen " + release + " ABI"
                    + NameSuggestions.hint(n, names));
        }
        return s;
    }

    /** Every struct this release declares, in declaration order. */
    public List<StructLayout> structs() {
        return List.copyOf(structs.values());
    }

    /** {@code sizeof} of a typedef'd type, e.g. {@code xen_domain_handle_t}. */
    public Optional<Integer> typedefSize(String name) {
        return Optional.ofNullable(typeSizes.get(name));
    }

    /** A constant defined in this release, or an {@link AbiException} if Xen {@link #release} lacks it. */
    public long constant(String name) {
        Long v = constants.get(name);
        if (v == null) {
            throw new AbiException(Values.quoted(name) + " is not defined in Xen " + release
                    + NameSuggestions.hint(name, constants.keySet()));
        }
        return v;
    }

    public Optional<Long> findConstant(String name) {
        return Optional.ofNullable(constants.get(name));
    }

    /** Every constant of this release, in declaration order. */
    public Map<String, Long> constants() {
        return constants;
    }

    /**
     * io/ring.h's {@code __CONST_RING_SIZE(ring, bytes)}: how many entries a shared ring declared by
     * {@code DEFINE_RING_TYPES(ring, ...)} holds in {@code bytes} bytes, the ones left after the header of
     * {@code struct <ring>_sring} divided by {@code sizeof(union <ring>_sring_entry)}, rounded down to a power
     * of two (so that an index is masked with size - 1). The monitor ring in one page:
     * {@code constRingSize("vm_event", 4096)} is 8 in every supported release.
     */
    public int constRingSize(String ring, int bytes) {
        StructLayout shared = struct(ring + "_sring");
        Field entries = shared.field("ring").orElseThrow(() -> new AbiException(
                "struct " + shared.name() + " has no ring member: it is not a shared ring of io/ring.h"));
        int entry = struct(ring + "_sring_entry").size();
        if (bytes < entries.offset() + entry) {
            throw new AbiException(bytes + " bytes do not hold one entry of the " + ring + " ring: its header is "
                    + entries.offset() + " bytes and an entry " + entry + " in Xen " + release
                    + "; give at least " + (entries.offset() + entry));
        }
        return Integer.highestOneBit((bytes - entries.offset()) / entry);
    }

    /** The HVM save record types in declaration order (by code), END and HEADER included. */
    public List<HvmSaveType> hvmSaveTypes() {
        return hvmSaveTypes;
    }

    private StructLayout declared(String tag, String where) {
        StructLayout s = structs.get(tag);
        if (s == null) {
            throw new IllegalStateException(where + ": unknown struct " + tag);
        }
        return s;
    }

    private void attachSelector(DeclarationParser.SelectorDecl sel) {
        StructLayout s = structs.get(sel.struct());
        if (s == null) {
            throw new IllegalStateException(sel.where() + ": unknown struct " + sel.struct());
        }
        Field union = s.field(sel.union()).orElse(null);
        if (union == null || union.kind() != Field.Kind.UNION || s.field(sel.discriminator()).isEmpty()) {
            throw new IllegalStateException(sel.where() + ": " + sel.struct() + " has no union " + sel.union()
                    + " or no field " + sel.discriminator());
        }
        Map<Long, String> members = new LinkedHashMap<>();
        String fallback = null;
        for (String[] e : sel.entries()) {
            String member = e[1];
            if (!member.isEmpty() && s.field(sel.union() + "." + member).isEmpty()) {
                throw new IllegalStateException(sel.where() + ": " + sel.union() + " has no member " + member);
            }
            if (e[0].equals("default")) {
                fallback = member;
            } else {
                Long value = constants.get(e[0]);
                if (value == null) {
                    throw new IllegalStateException(sel.where() + ": constant " + e[0] + " is not defined");
                }
                members.put(value, member);
            }
        }
        s.attach(new UnionSelector(sel.union(), sel.discriminator(), Collections.unmodifiableMap(members), fallback));
    }

    private static String readResource(String name) {
        try (InputStream in = Abi.class.getResourceAsStream(FOLDER + name)) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
