package org.xenfork.abi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.xenfork.testfixtures.ReferenceData;

/**
 * Step 3 of docs/ABI.md's "Adding a release": gcc measures a release's public headers and the result
 * is written as {@code layouts-X.Y.jsonl} and {@code golden-X.Y.jsonl}, in the format of
 * test-fixtures' abi-data (its README).
 *
 * <p>What to measure comes from two places, so that no number is written by hand: a <em>template</em>,
 * the committed files of an existing release (the newest, or the release itself when re-measuring
 * it), gives the records in their order, with their type names and golden values; the release's own
 * declaration ({@code xen-X.Y.abi}, step 1) adds what the template lacks (its constants, its
 * fixed-length HVM save types, members it declares under a struct the template expands) and decides
 * which of the template's structs and members exist (a member it no longer declares is dropped). gcc
 * then prints every size, offset, alignment, constant and golden byte. A member whose C type is no
 * longer the template's stops the tool: that needs a person to look at the headers. A struct the
 * template has as missing but the declaration has is measured member by member from the declaration,
 * as is a struct named with {@code --add} (or a missing record is written, when the release does not
 * declare it): that is how a struct no release measured yet joins the files. Constants any supported
 * release declares are measured in every release (undefined where the headers lack them), and each
 * shared ring the declaration has ({@code struct X_sring} with its {@code ring}) gets its
 * {@code __CONST_RING_SIZE(X,4096)}. New members get no golden value: the golden cases assign the
 * template's leaves only, plus the cases of {@link #NEW_CASES} the template lacks.
 *
 * <p>Usage (from the repository root; {@code abi/measure-release.sh} builds the classpath):
 * {@code MeasureRelease --headers <xen/include/public> --release X.Y [--template X.Y] [--add S1,S2] [--out DIR]}.
 * Re-measuring an existing release must reproduce its committed files byte for byte;
 * {@code MeasureReleaseTest} checks that for the headers Debian ships.
 */
public final class MeasureRelease {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 120;
    /** A type name gcc can take back in {@code __builtin_types_compatible_p}: DWARF's "union <anon>" cannot. */
    private static final Pattern C_TYPE = Pattern.compile("((struct|union) )?[A-Za-z_][A-Za-z0-9_]*( ?\\[\\d+\\])*");
    /** The golden header field whose value is the release's interface version, and its macro, per struct. */
    private static final Map<String, List<String>> INTERFACE_VERSION = Map.of(
            "xen_domctl", List.of("interface_version", "XEN_DOMCTL_INTERFACE_VERSION"),
            "xen_sysctl", List.of("interface_version", "XEN_SYSCTL_INTERFACE_VERSION"),
            "vm_event_st", List.of("version", "VM_EVENT_INTERFACE_VERSION"));
    /** The page a shared ring is measured in: {@code __CONST_RING_SIZE(X,4096)}. */
    static final int RING_BYTES = 4096;
    /** The note every golden case carries. */
    private static final String GOLDEN_NOTE = "all bytes zeroed first; header uses real cmd/interface version; "
            + "every listed leaf assigned by typed C assignment";
    /** A leaf Xen wants zero (the golden cases set it anyway, to show where it is): pad, _pad, __pad, pad1... */
    private static final Pattern PAD = Pattern.compile("_*pad\\d*");
    /** An array element's path: the array's path and the index. */
    private static final Pattern ELEMENT = Pattern.compile("(.*)\\[(\\d+)\\]");

    /**
     * A golden case the tool adds when the template lacks it and the release declares its struct. The header
     * leaves take the value of the constant named (a release's interface version is assigned by its macro);
     * then leaf <i>i</i> (from 1) of the payload, the leaves at or under the payload paths in declaration
     * order, gets the value whose little-endian byte <i>k</i> is {@code (i + 7e + 16k) & 0xff} (a 0 byte
     * replaced by 0xa5; <i>e</i> is the element of an array, which counts as one leaf), masked to its width;
     * a guest handle keeps the low 47 bits, a canonical user-space address.
     */
    record NewCase(String name, String struct, List<List<String>> header, List<String> payload) {
    }

    /** The cases of the monitor ring and its hypercalls (issue 14), added to every release's golden file. */
    static final List<NewCase> NEW_CASES = List.of(
            new NewCase("domctl_vm_event_op_enable", "xen_domctl", domctlHeader("XEN_DOMCTL_vm_event_op"),
                    List.of("u.vm_event_op.op", "u.vm_event_op.mode", "u.vm_event_op.u.enable")),
            new NewCase("domctl_vm_event_op_get_version", "xen_domctl", domctlHeader("XEN_DOMCTL_vm_event_op"),
                    List.of("u.vm_event_op.op", "u.vm_event_op.mode", "u.vm_event_op.u.version")),
            new NewCase("domctl_monitor_op_write_ctrlreg", "xen_domctl", domctlHeader("XEN_DOMCTL_monitor_op"),
                    List.of("u.monitor_op.op", "u.monitor_op.event", "u.monitor_op.u.mov_to_cr")),
            new NewCase("domctl_monitor_op_guest_request", "xen_domctl", domctlHeader("XEN_DOMCTL_monitor_op"),
                    List.of("u.monitor_op.op", "u.monitor_op.event", "u.monitor_op.u.guest_request")),
            new NewCase("vm_event_request_software_breakpoint", "vm_event_st",
                    List.of(List.of("version", "VM_EVENT_INTERFACE_VERSION"),
                            List.of("reason", "VM_EVENT_REASON_SOFTWARE_BREAKPOINT")),
                    List.of("flags", "vcpu_id", "altp2m_idx", "_pad", "u.software_breakpoint", "data.regs.x86")),
            new NewCase("vm_event_request_cpuid", "vm_event_st",
                    List.of(List.of("version", "VM_EVENT_INTERFACE_VERSION"), List.of("reason", "VM_EVENT_REASON_CPUID")),
                    List.of("flags", "vcpu_id", "altp2m_idx", "_pad", "u.cpuid", "data.regs.x86")),
            new NewCase("vm_event_sring_header", "vm_event_sring", List.of(),
                    List.of("req_prod", "req_event", "rsp_prod", "rsp_event", "pvt.pvt_pad", "__pad")),
            new NewCase("hvmop_get_param_monitor_ring", "xen_hvm_param",
                    List.of(List.of("domid", "0x7fe1"), List.of("index", "HVM_PARAM_MONITOR_RING_PFN")),
                    List.of("pad", "value")),
            new NewCase("memory_decrease_reservation", "xen_memory_reservation", List.of(List.of("domid", "0x7fe1")),
                    List.of("extent_start", "nr_extents", "extent_order", "mem_flags")),
            new NewCase("dm_op_inject_event", "xen_dm_op", List.of(List.of("op", "XEN_DMOP_inject_event")),
                    List.of("pad", "u.inject_event")),
            new NewCase("dm_op_buf", "xen_dm_op_buf", List.of(), List.of("h", "size")));

    private static List<List<String>> domctlHeader(String cmd) {
        return List.of(List.of("cmd", cmd), List.of("interface_version", "XEN_DOMCTL_INTERFACE_VERSION"),
                List.of("domain", "0x7fe1"));
    }
    /** Not among the measured constants (the reference probe never printed them); CHeaderOracleTest checks them. */
    private static final Set<String> NOT_MEASURED = Set.of("__HYPERVISOR_multicall", "__HYPERVISOR_mmu_update");

    /** The two files' text, and what the tool added to or dropped from the template's records. */
    public record Result(String layouts, String golden, List<String> added) {
    }

    private MeasureRelease() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        if (args.length % 2 != 0 || !opts.containsKey("--headers") || !opts.containsKey("--release")) {
            System.err.println("usage: MeasureRelease --headers <xen/include/public> --release X.Y"
                    + " [--template X.Y] [--add STRUCT,STRUCT...] [--out DIR] [--gcc gcc]");
            System.exit(2);
        }
        XenRelease release = XenRelease.parse(opts.get("--release"));
        String template = opts.getOrDefault("--template", defaultTemplate(release));
        Path out = Path.of(opts.getOrDefault("--out", "."));
        Path work = Files.createTempDirectory("xenfork-measure");
        List<String> add = opts.containsKey("--add") ? List.of(opts.get("--add").split(",")) : List.of();
        Result r = measure(Path.of(opts.get("--headers")), release, template, add, opts.getOrDefault("--gcc", "gcc"), work);
        Files.createDirectories(out);
        Files.writeString(out.resolve("layouts-" + release + ".jsonl"), r.layouts(), StandardCharsets.UTF_8);
        Files.writeString(out.resolve("golden-" + release + ".jsonl"), r.golden(), StandardCharsets.UTF_8);
        System.err.println("measured Xen " + release + " from " + opts.get("--headers") + " with template " + template
                + " (probe in " + work + "); wrote " + out.resolve("layouts-" + release + ".jsonl") + " and "
                + out.resolve("golden-" + release + ".jsonl"));
        for (String a : r.added()) {
            System.err.println("  against the template, from xen-" + release + ".abi: " + a);
        }
    }

    /** The release's own files when it has them, else the newest release's that does. */
    static String defaultTemplate(XenRelease release) {
        String own = release.toString();
        if (ReferenceData.class.getResource("abi-data/layouts-" + own + ".jsonl") != null) {
            return own;
        }
        List<XenRelease> older = XenRelease.SUPPORTED.stream().filter(r -> r.compareTo(release) < 0).toList();
        if (older.isEmpty()) {
            throw new IllegalArgumentException("no release older than " + release + " to take as the template");
        }
        return older.get(older.size() - 1).toString();
    }

    /** Writes the probe into {@code work}, compiles it against {@code headers} and runs it. */
    public static Result measure(Path headers, XenRelease release, String template, String gcc, Path work)
            throws IOException, InterruptedException {
        return measure(headers, release, template, List.of(), gcc, work);
    }

    /**
     * As {@link #measure(Path, XenRelease, String, String, Path)}, and each struct of {@code add} the template has
     * no record of is measured too (member by member where the release declares it, else as missing).
     */
    public static Result measure(Path headers, XenRelease release, String template, List<String> add, String gcc,
            Path work) throws IOException, InterruptedException {
        return measure(headers, release, ReferenceData.layouts(template), ReferenceData.golden(template), add, gcc, work);
    }

    /** As above, with the template's records given. */
    static Result measure(Path headers, XenRelease release, List<JsonNode> templateLayouts,
            List<JsonNode> templateGolden, List<String> add, String gcc, Path work) throws IOException, InterruptedException {
        if (!Files.isRegularFile(headers.resolve("domctl.h"))) {
            throw new IllegalArgumentException(headers + " has no domctl.h: give Xen's xen/include/public");
        }
        Abi abi = Abi.forRelease(release);
        Plan plan = new Plan(abi, release.toString(), templateLayouts, templateGolden, add);
        // The headers include each other as <xen/...>; a source tree has them as xen/include/public.
        Path inc = work.resolve("inc");
        Files.createDirectories(inc);
        Path link = inc.resolve("xen");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, headers.toAbsolutePath());
        Path source = work.resolve("probe.c");
        Path binary = work.resolve("probe");
        Files.writeString(source, plan.probe(), StandardCharsets.UTF_8);
        try {
            run(List.of(gcc, "-std=gnu11", "-Wall", "-Werror", "-D__XEN_TOOLS__", "-I", inc.toString(), "-o",
                    binary.toString(), source.toString()), "gcc on " + source, work);
        } finally {
            Files.delete(link); // whoever cleans up work must not follow it into the headers
        }
        return plan.assemble(run(List.of(binary.toString()), "the probe " + binary, work));
    }

    /** The template's records with the release's additions, and the probe that measures them. */
    private static final class Plan {
        private static final Set<String> STRUCT_KINDS = Set.of("struct", "field", "missing");
        private final Abi abi;
        private final String version;
        private final List<ObjectNode> layouts = new ArrayList<>();
        private final List<ObjectNode> golden = new ArrayList<>();
        private final List<String> added = new ArrayList<>();
        private final Map<String, Map<String, Boolean>> bitfields = new HashMap<>();
        private final Set<String> declared = new LinkedHashSet<>();
        /** The structs with records of their own (the template's and those named with --add). */
        private final Set<String> ownRecords = new LinkedHashSet<>();

        Plan(Abi abi, String version, List<JsonNode> templateLayouts, List<JsonNode> templateGolden, List<String> add) {
            this.abi = abi;
            this.version = version;
            abi.structs().forEach(s -> declared.add(s.name()));
            Set<String> measuredStructs = new LinkedHashSet<>();
            Set<String> consts = new LinkedHashSet<>();
            Set<String> saveTypes = new LinkedHashSet<>();
            ownRecords.addAll(add);
            for (JsonNode r : templateLayouts) {
                if (r.get("kind").asText().equals("struct") || r.get("kind").asText().equals("missing")) {
                    measuredStructs.add(r.get("struct").asText());
                    ownRecords.add(r.get("struct").asText());
                } else if (r.get("kind").asText().equals("const")) {
                    consts.add(r.get("name").asText());
                }
            }
            for (int i = 0; i < templateLayouts.size(); i++) {
                ObjectNode r = templateLayouts.get(i).deepCopy();
                r.put("version", version);
                String kind = r.get("kind").asText();
                String struct = r.path("struct").asText();
                switch (kind) {
                    case "struct", "missing" -> {
                        if (!declared.contains(struct)) {
                            addMissing(struct);
                        } else if (kind.equals("missing")) {
                            addWholeStruct(struct, "the template has it as missing");
                        } else {
                            layouts.add(r);
                        }
                    }
                    case "field" -> {
                        Field now = declared.contains(struct) ? abi.struct(struct).field(r.get("path").asText()).orElse(null)
                                : null;
                        if (now != null && (now.kind() == Field.Kind.FLEXIBLE_ARRAY) != isFlexible(r)) {
                            throw new IllegalStateException("these members' C type is not the template's any more: ["
                                    + struct + "." + now.path() + "] is " + now.type() + " in xen-" + version + ".abi, "
                                    + r.get("type").asText() + " in the template; the headers changed it, which this tool"
                                    + " does not guess at");
                        }
                        if (declared.contains(struct) && now == null) {
                            added.add("dropped, not declared any more: field " + struct + "." + r.get("path").asText());
                        } else if (declared.contains(struct)) {
                            layouts.add(r);
                            bitfields.computeIfAbsent(struct, k -> new HashMap<>())
                                    .put(r.get("path").asText(), r.path("note").asText().equals("bitfield"));
                        }
                    }
                    case "const" -> layouts.add(r);
                    case "hvm_save_type" -> {
                        saveTypes.add(r.get("name").asText());
                        layouts.add(r);
                    }
                    default -> throw new IllegalStateException("unknown record kind " + kind + " in the template");
                }
                if (kind.equals("field") && declared.contains(struct) && !nextIsFieldOf(templateLayouts, i, struct)) {
                    addDeclaredFields(struct);
                }
                if (STRUCT_KINDS.contains(kind) && !(i + 1 < templateLayouts.size()
                        && STRUCT_KINDS.contains(templateLayouts.get(i + 1).get("kind").asText()))) {
                    for (String name : add) {
                        if (measuredStructs.add(name)) {
                            if (declared.contains(name)) {
                                addWholeStruct(name, "named with --add");
                            } else {
                                addMissing(name);
                                added.add("added: struct " + name + " as missing (named with --add; not declared)");
                            }
                        }
                    }
                }
                if (kind.equals("const") && !nextIs(templateLayouts, i, "const")) {
                    for (String name : everyReleasesConstants()) {
                        // once: the template's constants come in two runs (the values, then the sizeofs)
                        if (consts.add(name) && !NOT_MEASURED.contains(name)) {
                            layouts.add(JSON.createObjectNode().put("version", version).put("kind", "const").put("name", name));
                            added.add("added: constant " + name + (abi.constants().containsKey(name) ? ""
                                    : " (another release declares it: measured as the headers have it)"));
                        }
                    }
                }
                if (kind.equals("hvm_save_type") && !nextIs(templateLayouts, i, "hvm_save_type")) {
                    for (HvmSaveType t : abi.hvmSaveTypes()) {
                        if (!t.variableLength() && !saveTypes.contains(t.name())) {
                            layouts.add(JSON.createObjectNode().put("version", version).put("kind", "hvm_save_type")
                                    .put("name", t.name()));
                            added.add("added: HVM save type " + t.name());
                        }
                    }
                }
            }
            for (String name : add) {
                if (!measuredStructs.contains(name)) {
                    throw new IllegalStateException("--add " + name + ": the template has no struct records to put it after");
                }
            }
            for (StructLayout s : abi.structs()) {
                String ring = s.name().endsWith("_sring") && s.field("ring").isPresent()
                        ? s.name().substring(0, s.name().length() - "_sring".length()) : null;
                String name = ring == null ? null : ringSizeName(ring);
                if (name != null && consts.add(name)) {
                    layouts.add(JSON.createObjectNode().put("version", version).put("kind", "const").put("name", name));
                    added.add("added: constant " + name);
                }
            }
            Set<String> cases = new LinkedHashSet<>();
            for (JsonNode g : templateGolden) {
                ObjectNode c = g.deepCopy();
                c.put("version", version);
                cases.add(c.get("case").asText());
                StructLayout layout = abi.struct(c.get("struct").asText());
                ArrayNode fields = (ArrayNode) c.get("fields");
                for (int i = fields.size() - 1; i >= 0; i--) {
                    String path = fields.get(i).get("path").asText();
                    if (layout.field(path).isEmpty() && leafOf(layout, path) == null) {
                        fields.remove(i);
                        added.add("dropped, not declared any more: golden " + c.get("case").asText() + " " + path);
                    }
                }
                golden.add(c);
            }
            for (NewCase n : NEW_CASES) {
                if (!cases.contains(n.name()) && declared.contains(n.struct())) {
                    golden.add(newCase(n));
                    added.add("added: golden case " + n.name());
                }
            }
        }

        /** Every constant of every supported release, this release's first, each in declaration order. */
        private Set<String> everyReleasesConstants() {
            Set<String> all = new LinkedHashSet<>(abi.constants().keySet());
            for (XenRelease r : XenRelease.SUPPORTED) {
                all.addAll(Abi.forRelease(r).constants().keySet());
            }
            return all;
        }

        private void addMissing(String struct) {
            layouts.add(JSON.createObjectNode().put("version", version).put("kind", "missing").put("struct", struct));
        }

        /**
         * A struct no template measured: its record and one per member at every depth (array elements aside),
         * but for the members of a member whose struct or union has records of its own ("aggregate-measured").
         */
        private void addWholeStruct(String struct, String why) {
            layouts.add(JSON.createObjectNode().put("version", version).put("kind", "struct").put("struct", struct));
            Map<String, Boolean> known = bitfields.computeIfAbsent(struct, k -> new HashMap<>());
            List<String> measuredWhole = new ArrayList<>();
            int n = 0;
            for (Field f : abi.struct(struct).fields()) {
                if (measuredWhole.stream().anyMatch(p -> f.path().startsWith(p + "."))) {
                    continue;
                }
                String kind = aggregateKind(f);
                if (kind.equals("aggregate-measured")) {
                    measuredWhole.add(f.path());
                }
                layouts.add(fieldRecord(struct, f, kind));
                known.put(f.path(), f.kind() == Field.Kind.BITFIELD);
                n++;
            }
            added.add("added: struct " + struct + " and its " + n + " members (" + why + ")");
        }

        /**
         * How a struct or union member is measured: "aggregate-measured", whole, when its type has records of its own;
         * else "aggregate", member by member (for any other member the word is not used).
         */
        private String aggregateKind(Field f) {
            String tag = f.type().replaceFirst("^(struct|union) ", "");
            return (f.kind() == Field.Kind.STRUCT || f.kind() == Field.Kind.UNION) && ownRecords.contains(tag)
                    ? "aggregate-measured" : "aggregate";
        }

        /** A field record as the template writes it; the probe's output fills in offset and size. */
        private ObjectNode fieldRecord(String struct, Field f, String aggregateKind) {
            ObjectNode r = JSON.createObjectNode().put("version", version).put("kind", "field").put("struct", struct)
                    .put("path", f.path()).put("type", f.type());
            if (f.kind() == Field.Kind.BITFIELD) {
                r.put("note", "bitfield");
            } else if (f.kind() == Field.Kind.FLEXIBLE_ARRAY) {
                r.put("offset", 0).put("size", 0).put("elem_size", 0).put("note", "flexible array");
            } else {
                r.put("fieldkind", switch (f.kind()) {
                    case HANDLE -> "handle";
                    case ARRAY -> "array";
                    case STRUCT, UNION -> aggregateKind;
                    default -> "scalar";
                });
            }
            return r;
        }

        /**
         * Members the declaration has and the template lacks, under a parent the template lists member by member
         * (the struct itself or an "aggregate"), as {@link #addWholeStruct} would; a direct member of an
         * "aggregate-unexpanded" union (xen_domctl's u) is added as a "union-member", whole; under a "union-member" or
         * an "aggregate-measured" (whose type has records of its own) nothing is added.
         */
        private void addDeclaredFields(String struct) {
            Map<String, Boolean> known = bitfields.get(struct);
            Set<String> expanded = new LinkedHashSet<>();
            Set<String> unexpanded = new LinkedHashSet<>();
            expanded.add("");
            for (ObjectNode r : layouts) {
                if (r.path("struct").asText().equals(struct) && r.path("fieldkind").asText().equals("aggregate")) {
                    expanded.add(r.get("path").asText());
                } else if (r.path("struct").asText().equals(struct)
                        && r.path("fieldkind").asText().equals("aggregate-unexpanded")) {
                    unexpanded.add(r.get("path").asText());
                }
            }
            for (Field f : abi.struct(struct).fields()) {
                String path = f.path();
                int dot = path.lastIndexOf('.');
                String parent = dot < 0 ? "" : path.substring(0, dot);
                if (known.containsKey(path) || path.contains("[")
                        || !expanded.contains(parent) && !unexpanded.contains(parent)) {
                    continue;
                }
                ObjectNode r = fieldRecord(struct, f, aggregateKind(f));
                if (unexpanded.contains(parent)) {
                    r.put("fieldkind", "union-member");
                } else if (r.path("fieldkind").asText().equals("aggregate")) {
                    expanded.add(path); // a new aggregate is new throughout: its members are measured too
                }
                layouts.add(r);
                known.put(path, f.kind() == Field.Kind.BITFIELD);
                added.add("added: field " + struct + "." + path);
            }
            // An added member goes where C has it, among the template's: the declaration keeps Xen's member order.
            Map<String, Integer> order = new HashMap<>();
            List<Field> fields = abi.struct(struct).fields();
            for (int i = 0; i < fields.size(); i++) {
                order.put(fields.get(i).path(), i);
            }
            int start = layouts.size();
            while (start > 0 && layouts.get(start - 1).path("kind").asText().equals("field")
                    && layouts.get(start - 1).path("struct").asText().equals(struct)) {
                start--;
            }
            layouts.subList(start, layouts.size()).sort(
                    java.util.Comparator.comparingInt(r -> order.getOrDefault(r.get("path").asText(), Integer.MAX_VALUE)));
        }

        /** One of {@link #NEW_CASES} with its values (an interface version is the probe's to fill in). */
        private ObjectNode newCase(NewCase n) {
            StructLayout layout = abi.struct(n.struct());
            ObjectNode c = JSON.createObjectNode().put("version", version).put("case", n.name()).put("struct", n.struct())
                    .put("size", 0).put("note", GOLDEN_NOTE);
            ArrayNode fields = c.putArray("fields");
            Set<String> headerPaths = new LinkedHashSet<>();
            for (List<String> h : n.header()) {
                Leaf leaf = layout.leaf(h.get(0));
                long value = h.get(1).startsWith("0x") ? Long.parseUnsignedLong(h.get(1).substring(2), 16)
                        : abi.constant(h.get(1));
                fields.addObject().put("path", leaf.path()).put("value", Values.hex(value & leaf.mask()));
                headerPaths.add(leaf.path());
            }
            Map<String, Integer> numbers = new LinkedHashMap<>();
            for (String prefix : n.payload()) {
                List<Leaf> leaves = layout.leaves().stream()
                        .filter(l -> !headerPaths.contains(l.path()) && (l.path().equals(prefix)
                                || l.path().startsWith(prefix + ".") || l.path().startsWith(prefix + "[")))
                        .toList();
                if (leaves.isEmpty()) {
                    throw new IllegalStateException("golden case " + n.name() + ": no leaf at or under " + prefix
                            + " in " + n.struct() + " of Xen " + version);
                }
                for (Leaf l : leaves) {
                    Matcher element = ELEMENT.matcher(l.path());
                    boolean inArray = element.matches();
                    String numbered = inArray ? element.group(1) : l.path();
                    int e = inArray ? Integer.parseInt(element.group(2)) : 0;
                    int i = numbers.computeIfAbsent(numbered, k -> numbers.size() + 1);
                    long v = 0;
                    for (int k = 0; k < (l.bitWidth() + 7) / 8; k++) {
                        int b = (i + 7 * e + 16 * k) & 0xff;
                        v |= (long) (b == 0 ? 0xa5 : b) << (8 * k);
                    }
                    v &= l.mask();
                    if (layout.field(l.path()).map(f -> f.kind() == Field.Kind.HANDLE).orElse(false)) {
                        v &= 0x7fff_ffff_ffffL;
                    }
                    ObjectNode f = fields.addObject().put("path", l.path()).put("value", Values.hex(v));
                    String name = numbered.substring(numbered.lastIndexOf('.') + 1);
                    if (PAD.matcher(name).matches()) {
                        f.put("must_be_zero_on_wire", true);
                    }
                }
            }
            return c;
        }

        String probe() {
            StringBuilder c = new StringBuilder("""
                    /* Generated by org.xenfork.abi.MeasureRelease; compile with -D__XEN_TOOLS__. */
                    #include <stdint.h>
                    #include <stddef.h>
                    #include <stdio.h>
                    #include <string.h>
                    #include <xen/xen.h>
                    #include <xen/domctl.h>
                    #include <xen/sysctl.h>
                    #include <xen/memory.h>
                    #include <xen/version.h>
                    #include <xen/hvm/save.h>
                    #include <xen/vm_event.h>
                    #include <xen/hvm/hvm_op.h>
                    #include <xen/hvm/params.h>
                    #include <xen/hvm/dm_op.h>
                    #include <xen/sched.h>

                    static void dump(const char *id, const void *p, size_t n)
                    {
                        const unsigned char *b = p;
                        printf("G %s %zu ", id, n);
                        for (size_t i = 0; i < n; i++)
                            printf("%02x", b[i]);
                        printf("\\n");
                    }

                    int main(void)
                    {
                    """);
            for (ObjectNode r : layouts) {
                String s = r.path("struct").asText();
                String type = r.get("kind").asText().equals("missing") || s.isEmpty() ? null : cName(s);
                switch (r.get("kind").asText()) {
                    case "struct" -> c.append("    printf(\"S ").append(s).append(" %zu %zu\\n\", sizeof(").append(type)
                            .append("), _Alignof(").append(type).append("));\n");
                    case "field" -> {
                        String p = r.get("path").asText();
                        String member = "((" + type + " *)0)->" + p;
                        if (isFlexible(r)) {
                            c.append("    printf(\"F ").append(s).append(' ').append(p).append(" %zu 0 %zu\\n\", offsetof(")
                                    .append(type).append(", ").append(p).append("), sizeof(").append(member).append("[0]));\n");
                        } else if (!r.path("note").asText().equals("bitfield")) {
                            c.append("    printf(\"F ").append(s).append(' ').append(p).append(" %zu %zu\\n\", offsetof(")
                                    .append(type).append(", ").append(p).append("), sizeof(").append(member).append("));\n");
                            String declared = r.get("type").asText();
                            if (C_TYPE.matcher(declared).matches()) {
                                c.append("    printf(\"T ").append(s).append(' ').append(p)
                                        .append(" %d\\n\", __builtin_types_compatible_p(__typeof__(").append(member)
                                        .append("), ").append(declared).append("));\n");
                            }
                        }
                    }
                    case "const" -> {
                        String n = r.get("name").asText();
                        if (n.contains("(")) { // sizeof(T), __CONST_RING_SIZE(X,4096): an expression, always defined
                            c.append("    printf(\"Z ").append(n).append(" %zu\\n\", ").append(n).append(");\n");
                        } else {
                            c.append("#ifdef ").append(n).append("\n    printf(\"C ").append(n)
                                    .append(" %lld %llx\\n\", (long long)(").append(n).append("), (unsigned long long)(")
                                    .append(n).append("));\n#else\n    printf(\"U ").append(n).append("\\n\");\n#endif\n");
                        }
                    }
                    case "hvm_save_type" -> {
                        String n = r.get("name").asText();
                        c.append("    printf(\"H ").append(n).append(" %zu %zu\\n\", (size_t)HVM_SAVE_CODE(").append(n)
                                .append("), (size_t)HVM_SAVE_LENGTH(").append(n).append("));\n");
                    }
                    default -> {
                    }
                }
            }
            for (ObjectNode g : golden) {
                String s = g.get("struct").asText();
                c.append("    {\n        ").append(cName(s)).append(" s;\n        memset(&s, 0, sizeof s);\n");
                List<String> versionField = INTERFACE_VERSION.get(s);
                for (JsonNode f : g.get("fields")) {
                    String p = f.get("path").asText();
                    String value = f.get("value").asText() + "ULL";
                    if (versionField != null && p.equals(versionField.get(0))) {
                        c.append("        s.").append(p).append(" = ").append(versionField.get(1)).append(";\n");
                    } else if (p.equals("interface_version")) {
                        throw new IllegalStateException("interface_version of " + s + ": which constant?");
                    } else if (isHandle(s, p)) {
                        c.append("        set_xen_guest_handle(s.").append(p).append(", (void *)(uintptr_t)").append(value)
                                .append(");\n");
                    } else if (isBitfield(s, p)) {
                        c.append("        s.").append(p).append(" = ").append(value).append(";\n");
                    } else {
                        c.append("        s.").append(p).append(" = (__typeof__(s.").append(p).append("))").append(value)
                                .append(";\n");
                    }
                }
                c.append("        dump(\"").append(g.get("case").asText()).append("\", &s, sizeof s);\n    }\n");
            }
            return c.append("    return 0;\n}\n").toString();
        }

        /** How C names the type: {@code union tag} for a union declared at top level, else {@code struct tag}. */
        private String cName(String struct) {
            return (abi.struct(struct).isUnion() ? "union " : "struct ") + struct;
        }

        private static Leaf leafOf(StructLayout layout, String path) {
            return layout.leaves().stream().filter(l -> l.path().equals(path)).findFirst().orElse(null);
        }

        private boolean isHandle(String struct, String path) {
            return abi.struct(struct).field(path).map(f -> f.kind() == Field.Kind.HANDLE).orElse(false);
        }

        private boolean isBitfield(String struct, String path) {
            return abi.struct(struct).field(path).map(f -> f.kind() == Field.Kind.BITFIELD).orElse(false);
        }

        Result assemble(String output) throws IOException {
            Map<String, String[]> lines = new LinkedHashMap<>();
            List<String> wrongTypes = new ArrayList<>();
            for (String line : output.split("\n")) {
                String[] w = line.split(" ");
                switch (w[0]) {
                    case "S" -> lines.put("S " + w[1], w);
                    case "F" -> lines.put("F " + w[1] + " " + w[2], w);
                    case "T" -> {
                        if (!w[3].equals("1")) {
                            wrongTypes.add(w[1] + "." + w[2]);
                        }
                    }
                    case "C", "U", "Z", "H" -> lines.put("K " + w[1], w);
                    case "G" -> lines.put("G " + w[1], w);
                    default -> throw new IllegalStateException("the probe printed " + line);
                }
            }
            if (!wrongTypes.isEmpty()) {
                throw new IllegalStateException("these members' C type is not the template's any more: " + wrongTypes
                        + "; the headers changed them, which this tool does not guess at");
            }
            StringBuilder l = new StringBuilder();
            Map<String, Long> measuredConstants = new HashMap<>();
            for (ObjectNode r : layouts) {
                String s = r.path("struct").asText();
                switch (r.get("kind").asText()) {
                    case "struct" -> {
                        String[] w = need(lines, "S " + s);
                        r.put("size", Integer.parseInt(w[2])).put("align", Integer.parseInt(w[3]));
                    }
                    case "field" -> {
                        if (!r.path("note").asText().equals("bitfield")) {
                            String[] w = need(lines, "F " + s + " " + r.get("path").asText());
                            r.put("offset", Integer.parseInt(w[3])).put("size", Integer.parseInt(w[4]));
                            if (isFlexible(r)) {
                                r.put("elem_size", Integer.parseInt(w[5]));
                            }
                        }
                    }
                    case "const" -> {
                        String[] w = need(lines, "K " + r.get("name").asText());
                        r.remove(List.of("value", "hex"));
                        switch (w[0]) {
                            case "C" -> {
                                long v = Long.parseLong(w[2]);
                                r.put("value", v).put("hex", "0x" + w[3]);
                                measuredConstants.put(w[1], v);
                            }
                            case "U" -> r.putNull("value");
                            default -> r.put("value", Integer.parseInt(w[2]));
                        }
                    }
                    case "hvm_save_type" -> {
                        String[] w = need(lines, "K " + r.get("name").asText());
                        r.put("code", Integer.parseInt(w[2])).put("length", Integer.parseInt(w[3]));
                    }
                    default -> {
                    }
                }
                l.append(JSON.writeValueAsString(r)).append('\n');
            }
            StringBuilder g = new StringBuilder();
            for (ObjectNode c : golden) {
                String[] w = need(lines, "G " + c.get("case").asText());
                c.put("size", Integer.parseInt(w[2]));
                List<String> versionField = INTERFACE_VERSION.get(c.get("struct").asText());
                for (JsonNode f : (ArrayNode) c.get("fields")) {
                    if (versionField != null && f.get("path").asText().equals(versionField.get(0))) {
                        String macro = versionField.get(1);
                        Long v = measuredConstants.get(macro);
                        if (v == null) {
                            throw new IllegalStateException(macro + " was not measured");
                        }
                        ((ObjectNode) f).put("value", "0x" + Long.toHexString(v));
                    }
                }
                c.put("hex", w[3]);
                g.append(JSON.writeValueAsString(c)).append('\n');
            }
            return new Result(l.toString(), g.toString(), List.copyOf(added));
        }
    }

    /** The const record of a shared ring's entry count in a page, as io/ring.h's macro computes it. */
    static String ringSizeName(String ring) {
        return "__CONST_RING_SIZE(" + ring + "," + RING_BYTES + ")";
    }

    private static String[] need(Map<String, String[]> lines, String key) {
        String[] w = lines.get(key);
        if (w == null) {
            throw new IllegalStateException("the probe printed nothing for " + key);
        }
        return w;
    }

    /** A flexible array member: sizeof cannot take it, so the record has its element's size instead. */
    private static boolean isFlexible(JsonNode fieldRecord) {
        return fieldRecord.path("note").asText().equals("flexible array");
    }

    private static boolean nextIs(List<JsonNode> records, int i, String kind) {
        return i + 1 < records.size() && records.get(i + 1).get("kind").asText().equals(kind);
    }

    private static boolean nextIsFieldOf(List<JsonNode> records, int i, String struct) {
        return nextIs(records, i, "field") && records.get(i + 1).get("struct").asText().equals(struct);
    }

    private static String run(List<String> command, String what, Path work) throws IOException, InterruptedException {
        File out = Files.createTempFile(work, "out", ".txt").toFile();
        File err = Files.createTempFile(work, "err", ".txt").toFile();
        Process p = new ProcessBuilder(command).redirectOutput(out).redirectError(err).start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(what + " did not finish within " + TIMEOUT_SECONDS + " s: " + String.join(" ", command));
        }
        if (p.exitValue() != 0) {
            throw new IOException(what + " exited with " + p.exitValue() + ": " + String.join(" ", command) + "\n"
                    + Files.readString(err.toPath()));
        }
        return Files.readString(out.toPath());
    }
}
