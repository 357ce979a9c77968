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
 * longer the template's stops the tool, as does a struct the template has as missing but the
 * declaration has: those need a person to look at the headers. New members get no golden value: the
 * golden cases assign the template's leaves only.
 * A struct neither the template nor any release measured is not measured either: the abi-data README
 * lists the measured structs, and adding one means adding its records to a template first.
 *
 * <p>Usage (from the repository root; {@code abi/measure-release.sh} builds the classpath):
 * {@code MeasureRelease --headers <xen/include/public> --release X.Y [--template X.Y] [--out DIR]}.
 * Re-measuring an existing release must reproduce its committed files byte for byte;
 * {@code MeasureReleaseTest} checks that for the headers Debian ships.
 */
public final class MeasureRelease {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 120;
    /** A type name gcc can take back in {@code __builtin_types_compatible_p}: DWARF's "union <anon>" cannot. */
    private static final Pattern C_TYPE = Pattern.compile("((struct|union) )?[A-Za-z_][A-Za-z0-9_]*( ?\\[\\d+\\])*");
    /** The golden header fields whose value is the release's interface version, per struct. */
    private static final Map<String, String> INTERFACE_VERSION = Map.of(
            "xen_domctl", "XEN_DOMCTL_INTERFACE_VERSION", "xen_sysctl", "XEN_SYSCTL_INTERFACE_VERSION");
    /** Not among the measured constants (the reference probe never printed it); CHeaderOracleTest checks it. */
    private static final Set<String> NOT_MEASURED = Set.of("__HYPERVISOR_multicall");

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
                    + " [--template X.Y] [--out DIR] [--gcc gcc]");
            System.exit(2);
        }
        XenRelease release = XenRelease.parse(opts.get("--release"));
        String template = opts.getOrDefault("--template", defaultTemplate(release));
        Path out = Path.of(opts.getOrDefault("--out", "."));
        Path work = Files.createTempDirectory("xenfork-measure");
        Result r = measure(Path.of(opts.get("--headers")), release, template, opts.getOrDefault("--gcc", "gcc"), work);
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
        return measure(headers, release, ReferenceData.layouts(template), ReferenceData.golden(template), gcc, work);
    }

    /** As above, with the template's records given. */
    static Result measure(Path headers, XenRelease release, List<JsonNode> templateLayouts,
            List<JsonNode> templateGolden, String gcc, Path work) throws IOException, InterruptedException {
        if (!Files.isRegularFile(headers.resolve("domctl.h"))) {
            throw new IllegalArgumentException(headers + " has no domctl.h: give Xen's xen/include/public");
        }
        Abi abi = Abi.forRelease(release);
        Plan plan = new Plan(abi, release.toString(), templateLayouts, templateGolden);
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
        private final Abi abi;
        private final String version;
        private final List<ObjectNode> layouts = new ArrayList<>();
        private final List<ObjectNode> golden = new ArrayList<>();
        private final List<String> added = new ArrayList<>();
        private final Map<String, Map<String, Boolean>> bitfields = new HashMap<>();

        Plan(Abi abi, String version, List<JsonNode> templateLayouts, List<JsonNode> templateGolden) {
            this.abi = abi;
            this.version = version;
            Set<String> declared = new LinkedHashSet<>();
            abi.structs().forEach(s -> declared.add(s.name()));
            Set<String> consts = new LinkedHashSet<>();
            Set<String> saveTypes = new LinkedHashSet<>();
            for (int i = 0; i < templateLayouts.size(); i++) {
                ObjectNode r = templateLayouts.get(i).deepCopy();
                r.put("version", version);
                String kind = r.get("kind").asText();
                String struct = r.path("struct").asText();
                switch (kind) {
                    case "struct", "missing" -> {
                        if (!declared.contains(struct)) {
                            ObjectNode missing = JSON.createObjectNode().put("version", version).put("kind", "missing");
                            layouts.add(missing.put("struct", struct));
                        } else if (kind.equals("missing")) {
                            throw new IllegalStateException("xen-" + version + ".abi declares " + struct
                                    + ", which the template does not have: take a template release that has it (--template)");
                        } else {
                            layouts.add(r);
                        }
                    }
                    case "field" -> {
                        if (declared.contains(struct) && abi.struct(struct).field(r.get("path").asText()).isEmpty()) {
                            added.add("dropped, not declared any more: field " + struct + "." + r.get("path").asText());
                        } else if (declared.contains(struct)) {
                            layouts.add(r);
                            bitfields.computeIfAbsent(struct, k -> new HashMap<>())
                                    .put(r.get("path").asText(), r.path("note").asText().equals("bitfield"));
                        }
                    }
                    case "const" -> {
                        consts.add(r.get("name").asText());
                        layouts.add(r);
                    }
                    case "hvm_save_type" -> {
                        saveTypes.add(r.get("name").asText());
                        layouts.add(r);
                    }
                    default -> throw new IllegalStateException("unknown record kind " + kind + " in the template");
                }
                if (kind.equals("field") && declared.contains(struct) && !nextIsFieldOf(templateLayouts, i, struct)) {
                    addDeclaredFields(struct);
                }
                if (kind.equals("const") && !nextIs(templateLayouts, i, "const")) {
                    for (String name : abi.constants().keySet()) {
                        // once: the template's constants come in two runs (the values, then the sizeofs)
                        if (consts.add(name) && !NOT_MEASURED.contains(name)) {
                            layouts.add(JSON.createObjectNode().put("version", version).put("kind", "const").put("name", name));
                            added.add("added: constant " + name);
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
            for (JsonNode g : templateGolden) {
                ObjectNode c = g.deepCopy();
                c.put("version", version);
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
        }

        /**
         * Members the declaration has and the template lacks, under a parent the template lists member by member
         * (the struct itself or an "aggregate"); a "union-member" or "aggregate-unexpanded" parent stays whole.
         */
        private void addDeclaredFields(String struct) {
            Map<String, Boolean> known = bitfields.get(struct);
            Set<String> expanded = new LinkedHashSet<>();
            expanded.add("");
            for (ObjectNode r : layouts) {
                if (r.path("struct").asText().equals(struct) && r.path("fieldkind").asText().equals("aggregate")) {
                    expanded.add(r.get("path").asText());
                }
            }
            for (Field f : abi.struct(struct).fields()) {
                String path = f.path();
                int dot = path.lastIndexOf('.');
                String parent = dot < 0 ? "" : path.substring(0, dot);
                if (known.containsKey(path) || path.contains("[") || !expanded.contains(parent)) {
                    continue;
                }
                ObjectNode r = JSON.createObjectNode().put("version", version).put("kind", "field").put("struct", struct)
                        .put("path", path).put("type", f.type());
                if (f.kind() == Field.Kind.BITFIELD) {
                    r.put("note", "bitfield");
                } else if (f.kind() == Field.Kind.FLEXIBLE_ARRAY) {
                    r.put("offset", 0).put("size", 0).put("elem_size", 0).put("note", "flexible array");
                } else {
                    r.put("fieldkind", switch (f.kind()) {
                        case HANDLE -> "handle";
                        case ARRAY, FLEXIBLE_ARRAY -> "array";
                        case STRUCT -> "aggregate";
                        case UNION -> "aggregate-unexpanded";
                        default -> "scalar";
                    });
                }
                layouts.add(r);
                if (f.kind() == Field.Kind.STRUCT) {
                    expanded.add(path); // a new aggregate is new throughout: its members are measured too
                }
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
                switch (r.get("kind").asText()) {
                    case "struct" -> c.append("    printf(\"S ").append(s).append(" %zu %zu\\n\", sizeof(struct ").append(s)
                            .append("), _Alignof(struct ").append(s).append("));\n");
                    case "field" -> {
                        String p = r.get("path").asText();
                        String member = "((struct " + s + " *)0)->" + p;
                        if (isFlexible(r)) {
                            c.append("    printf(\"F ").append(s).append(' ').append(p).append(" %zu 0 %zu\\n\", offsetof(struct ")
                                    .append(s).append(", ").append(p).append("), sizeof(").append(member).append("[0]));\n");
                        } else if (!r.path("note").asText().equals("bitfield")) {
                            c.append("    printf(\"F ").append(s).append(' ').append(p).append(" %zu %zu\\n\", offsetof(struct ")
                                    .append(s).append(", ").append(p).append("), sizeof(").append(member).append("));\n");
                            String type = r.get("type").asText();
                            if (C_TYPE.matcher(type).matches()) {
                                c.append("    printf(\"T ").append(s).append(' ').append(p)
                                        .append(" %d\\n\", __builtin_types_compatible_p(__typeof__(").append(member)
                                        .append("), ").append(type).append("));\n");
                            }
                        }
                    }
                    case "const" -> {
                        String n = r.get("name").asText();
                        if (n.startsWith("sizeof(")) {
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
                c.append("    {\n        struct ").append(s).append(" s;\n        memset(&s, 0, sizeof s);\n");
                for (JsonNode f : g.get("fields")) {
                    String p = f.get("path").asText();
                    String value = f.get("value").asText() + "ULL";
                    String versionMacro = INTERFACE_VERSION.get(s);
                    if (p.equals("interface_version")) {
                        if (versionMacro == null) {
                            throw new IllegalStateException("interface_version of " + s + ": which constant?");
                        }
                        c.append("        s.interface_version = ").append(versionMacro).append(";\n");
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
                String macro = INTERFACE_VERSION.get(c.get("struct").asText());
                for (JsonNode f : (ArrayNode) c.get("fields")) {
                    if (f.get("path").asText().equals("interface_version")) {
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
