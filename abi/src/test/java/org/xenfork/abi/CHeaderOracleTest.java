package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C oracle: Xen's own headers (Debian's libxen-dev, Xen 4.17) compiled by
 * gcc decide what the 4.17 structs look like in memory, independently of the
 * measured reference data the other tests use.
 *
 * <p>One generated probe program assigns random values to every leaf of every
 * struct (and of every union member of the selector structs) by typed C
 * assignment and prints the bytes; {@link StructCodec#encode} must produce the
 * same bytes from the same values. Typed assignment is the point: gcc, not our
 * layout engine, decides where a bitfield such as {@code hvm_hw_cpu.pending_type}
 * lives and what a store to a signed {@code char} leaves in memory. The probe
 * also prints our constants as the headers define them, each struct's
 * {@code sizeof}/{@code _Alignof}, and each fixed-length HVM save type's
 * {@code HVM_SAVE_CODE}/{@code HVM_SAVE_LENGTH}.
 *
 * <p>Needs gcc and {@code /usr/include/xen} ({@code apt-get install gcc libxen-dev});
 * without them the tests are skipped with a loud message, or fail when
 * {@code -Dxenfork.requireOracle=true} (CI). The random values come from
 * {@code -Dxenfork.oracle.seed} (default {@value #DEFAULT_SEED}), printed on every run.
 */
class CHeaderOracleTest {

    /** The release Debian's libxen-dev ships (4.17.7); the probe checks it. */
    private static final XenRelease RELEASE = XenRelease.parse("4.17");
    private static final Path XEN_INCLUDE = Path.of("/usr/include/xen");
    private static final long DEFAULT_SEED = 417_2024L;
    private static final int CASES_PER_VIEW = 8;
    private static final long TIMEOUT_SECONDS = 60;
    private static final String INSTALL_HINT = "apt-get install gcc libxen-dev";

    /*
     * stdint.h must come before xen.h (Xen's headers use uint*_t without including
     * it); privcmd.h needs domid_t and xen_pfn_t from xen.h, evtchn.h domid_t. domctl.h and sysctl.h
     * #error unless __XEN_TOOLS__ is defined, which the compile line does.
     */
    private static final String PRELUDE = """
            #include <stdint.h>
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
            #include <xen/sys/privcmd.h>
            #include <xen/sys/evtchn.h>

            static void dump(const char *id, const void *p, size_t n)
            {
                const unsigned char *b = p;
                printf("CASE %s ", id);
                for (size_t i = 0; i < n; i++)
                    printf("%02x", b[i]);
                printf("\\n");
            }
            """;

    /** Kept when a test fails, so the probe source and binary can be inspected. */
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    static Path work;

    private static Abi abi;
    private static long seed;
    private static List<View> views;
    private static ProbeOutput probe;

    /** The leaves assigned together: a whole struct, or a selector struct's header plus one union member. */
    record View(StructLayout layout, Optional<String> member, List<Case> cases) {
        String label() {
            return layout.name() + member.map(m -> " " + layout.selector().orElseThrow().unionPath() + "." + m).orElse("");
        }
    }

    /** One assignment of values, in the order both C and Java perform it. */
    record Case(String id, Map<Leaf, Long> values) {
    }

    /**
     * What the probe printed: constants (a number or "undefined"), sizeof/_Alignof per struct, bytes per case,
     * and HVM_SAVE_CODE/HVM_SAVE_LENGTH per fixed-length HVM save type.
     */
    record ProbeOutput(Map<String, String> constants, Map<String, int[]> sizes, Map<String, String> bytes,
                       Map<String, int[]> hvmTypes) {
    }

    @BeforeAll
    static void compileAndRunTheProbe() throws IOException, InterruptedException {
        Path gcc = findOnPath("gcc");
        if (gcc == null) {
            skipOrFail("gcc is not on PATH");
        }
        if (!Files.isRegularFile(XEN_INCLUDE.resolve("domctl.h"))) {
            skipOrFail(XEN_INCLUDE.resolve("domctl.h") + " is missing (Xen's public headers, package libxen-dev)");
        }
        abi = Abi.forRelease(RELEASE);
        seed = Long.decode(System.getProperty("xenfork.oracle.seed", Long.toString(DEFAULT_SEED)));
        System.out.println("CHeaderOracleTest: seed " + seed + " (rerun with -Dxenfork.oracle.seed=" + seed + ")");
        views = views(abi, new Random(seed));

        Path source = work.resolve("probe.c");
        Path binary = work.resolve("probe");
        Files.writeString(source, probeSource(abi, views), StandardCharsets.UTF_8);
        run(List.of(gcc.toString(), "-std=gnu11", "-Wall", "-Werror", "-D__XEN_TOOLS__",
                "-o", binary.toString(), source.toString()), "gcc on " + source);
        probe = parse(run(List.of(binary.toString()), "the probe " + binary));

        // Everything below compares against these headers; on another Xen release it would be noise.
        String version = probe.constants().get("XEN_DOMCTL_INTERFACE_VERSION");
        assertThat(version)
                .as("XEN_DOMCTL_INTERFACE_VERSION of %s: these headers must be Xen %s's", XEN_INCLUDE, RELEASE)
                .isEqualTo(Long.toString(abi.constant("XEN_DOMCTL_INTERFACE_VERSION")));
    }

    @Test
    void constantsDefinedByTheHeadersHaveOurValues() {
        SoftAssertions soft = new SoftAssertions();
        List<String> undefined = new ArrayList<>();
        int checked = 0;
        for (Map.Entry<String, Long> c : abi.constants().entrySet()) {
            String measured = probe.constants().get(c.getKey());
            assertThat(measured).as("probe output for constant %s", c.getKey()).isNotNull();
            if (measured.equals("undefined")) {
                undefined.add(c.getKey());
                continue;
            }
            soft.assertThat(c.getValue()).as("%s in xen-%s.abi vs <xen/...>", c.getKey(), RELEASE)
                    .isEqualTo(Long.parseLong(measured));
            checked++;
        }
        System.out.println("CHeaderOracleTest: " + checked + " constants checked against the headers; not macros there: "
                + undefined);
        soft.assertAll();
        assertThat(checked).as("constants the headers define (undefined there: %s)", undefined).isGreaterThan(80);
    }

    @Test
    void sizeAndAlignmentOfEveryStructMatchGcc() {
        SoftAssertions soft = new SoftAssertions();
        for (StructLayout s : abi.structs()) {
            int[] measured = probe.sizes().get(s.name());
            soft.assertThat(measured).as("probe output for struct %s", s.name()).isNotNull();
            if (measured != null) {
                soft.assertThat(s.size()).as("sizeof(struct %s)", s.name()).isEqualTo(measured[0]);
                soft.assertThat(s.align()).as("_Alignof(struct %s)", s.name()).isEqualTo(measured[1]);
            }
        }
        soft.assertAll();
    }

    /** Xen's own macros over its own DECLARE_HVM_SAVE_TYPE lines: code and body length of every fixed type. */
    @Test
    void hvmSaveTypesHaveTheHeadersCodesAndLengths() {
        SoftAssertions soft = new SoftAssertions();
        List<HvmSaveType> fixed = abi.hvmSaveTypes().stream().filter(t -> !t.variableLength()).toList();
        for (HvmSaveType t : fixed) {
            int[] measured = probe.hvmTypes().get(t.name());
            soft.assertThat(measured).as("probe output for HVM save type %s", t.name()).isNotNull();
            if (measured != null) {
                soft.assertThat(t.code()).as("HVM_SAVE_CODE(%s)", t.name()).isEqualTo(measured[0]);
                soft.assertThat(t.length()).as("HVM_SAVE_LENGTH(%s)", t.name()).isEqualTo(measured[1]);
            }
        }
        soft.assertAll();
        assertThat(fixed).as("fixed-length HVM save types").hasSize(19);
    }

    @TestFactory
    Stream<DynamicTest> encoderWritesTheBytesGccWrites() {
        int cases = views.stream().mapToInt(v -> v.cases().size()).sum();
        System.out.println("CHeaderOracleTest: " + abi.structs().size() + " structs, " + views.size() + " views, "
                + cases + " cases compared byte for byte with gcc");
        return views.stream().map(view -> DynamicTest.dynamicTest(view.label(), () -> {
            SoftAssertions soft = new SoftAssertions();
            for (Case c : view.cases()) {
                Map<String, String> values = new LinkedHashMap<>();
                c.values().forEach((leaf, v) -> values.put(leaf.path(), Values.hex(v)));
                String java = Values.toHex(StructCodec.encode(view.layout(), values));
                String gcc = probe.bytes().get(c.id());
                if (gcc == null) {
                    soft.fail("the probe printed no bytes for case " + c.id());
                } else if (!java.equals(gcc)) {
                    soft.fail(describeMismatch(view, c, java, gcc));
                }
            }
            soft.assertAll();
        }));
    }

    // ---- the cases -------------------------------------------------------------------------------

    /** Every struct as one view, except the selector structs: one view per union member instead. */
    private static List<View> views(Abi abi, Random random) {
        List<View> out = new ArrayList<>();
        for (StructLayout s : abi.structs()) {
            if (s.selector().isEmpty()) {
                out.add(view(s, Optional.empty(), s.leaves(), random));
                continue;
            }
            String union = s.selector().get().unionPath();
            for (String member : unionMembers(s, union)) {
                List<Leaf> leaves = s.leaves().stream()
                        .filter(l -> !l.path().startsWith(union + ".")
                                || l.path().startsWith(union + "." + member + ".")
                                || l.path().startsWith(union + "." + member + "["))
                        .toList();
                out.add(view(s, Optional.of(member), leaves, random));
            }
        }
        return out;
    }

    /** The direct members of a union, from the field list (the selector lists only some of them). */
    private static List<String> unionMembers(StructLayout s, String union) {
        return s.fields().stream().map(Field::path)
                .filter(p -> p.startsWith(union + "."))
                .map(p -> p.substring(union.length() + 1))
                .filter(rest -> !rest.contains(".") && !rest.contains("["))
                .toList();
    }

    /**
     * The cases of a view. Members of an inner union ({@code hvm_hw_cpu}'s
     * {@code pending_event} vs its bitfields, {@code u.debug.u.gfn/mfn/gref})
     * overlap; a case assigns one alternative of each such union, rotating, so
     * every alternative reaches gcc unclobbered. The last case of a view with
     * overlaps assigns every leaf in declaration order instead: the last write
     * wins in C, and must win the same way in Java. Case 0 sets every bit, which
     * shows sign extension or spill into neighbours and padding.
     */
    private static View view(StructLayout s, Optional<String> member, List<Leaf> leaves, Random random) {
        for (Leaf l : leaves) {
            // a signed bitfield would need a sign-extended C literal; none exist in Xen's structs today
            assertThat(!l.isBitfield() || !l.signed()).as("signed bitfield %s.%s: teach the probe about it", s.name(), l.path())
                    .isTrue();
        }
        List<List<List<Leaf>>> alternatives = overlappingAlternatives(leaves);
        List<Case> cases = new ArrayList<>();
        String idBase = s.name() + member.map(m -> "." + m).orElse("");
        for (int k = 0; k < CASES_PER_VIEW; k++) {
            boolean everything = !alternatives.isEmpty() && k == CASES_PER_VIEW - 1;
            List<Leaf> skipped = new ArrayList<>();
            if (!everything) {
                for (int c = 0; c < alternatives.size(); c++) {
                    List<List<Leaf>> alts = alternatives.get(c);
                    int chosen = (k + c) % alts.size();
                    for (int a = 0; a < alts.size(); a++) {
                        if (a != chosen) {
                            skipped.addAll(alts.get(a));
                        }
                    }
                }
            }
            Map<Leaf, Long> values = new LinkedHashMap<>();
            for (Leaf l : leaves) {
                if (!skipped.contains(l)) {
                    values.put(l, (k == 0 ? -1L : random.nextLong()) & l.mask());
                }
            }
            cases.add(new Case(idBase + "#" + k, values));
        }
        return new View(s, member, cases);
    }

    /**
     * Groups of leaves that share bits, each split into the union's alternatives:
     * leaves in declaration order, a new alternative starting at the first leaf
     * that overlaps one of the current alternative (union members are declared
     * one after another, and a member's own leaves never overlap each other).
     */
    private static List<List<List<Leaf>>> overlappingAlternatives(List<Leaf> leaves) {
        int n = leaves.size();
        int[] group = new int[n];
        for (int i = 0; i < n; i++) {
            group[i] = i;
        }
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                if (overlap(leaves.get(i), leaves.get(j))) {
                    int gi = root(group, i);
                    int gj = root(group, j);
                    group[Math.max(gi, gj)] = Math.min(gi, gj);
                }
            }
        }
        Map<Integer, List<Leaf>> groups = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            groups.computeIfAbsent(root(group, i), g -> new ArrayList<>()).add(leaves.get(i));
        }
        List<List<List<Leaf>>> out = new ArrayList<>();
        for (List<Leaf> g : groups.values()) {
            if (g.size() < 2) {
                continue;
            }
            List<List<Leaf>> alts = new ArrayList<>();
            List<Leaf> current = new ArrayList<>();
            for (Leaf l : g) {
                if (current.stream().anyMatch(c -> overlap(c, l))) {
                    alts.add(current);
                    current = new ArrayList<>();
                }
                current.add(l);
            }
            alts.add(current);
            out.add(alts);
        }
        return out;
    }

    private static int root(int[] group, int i) {
        while (group[i] != i) {
            i = group[i];
        }
        return i;
    }

    private static boolean overlap(Leaf a, Leaf b) {
        return a.bitOffset() < b.bitOffset() + b.bitWidth() && b.bitOffset() < a.bitOffset() + a.bitWidth();
    }

    // ---- the probe -------------------------------------------------------------------------------

    private static String probeSource(Abi abi, List<View> views) {
        StringBuilder c = new StringBuilder(PRELUDE);
        List<String> calls = new ArrayList<>();
        int fn = 0;
        for (View v : views) {
            for (Case k : v.cases()) {
                // one function per case keeps gcc -O0 quick on some 30,000 assignments
                String name = "case_" + fn++;
                calls.add(name);
                c.append("\nstatic void ").append(name).append("(void)\n{\n")
                        .append("    ").append(cName(v.layout())).append(" s;\n")
                        .append("    memset(&s, 0, sizeof s);\n");
                k.values().forEach((leaf, value) -> c.append("    ").append(assignment(v.layout(), leaf, value)).append('\n'));
                c.append("    dump(\"").append(k.id()).append("\", &s, sizeof s);\n}\n");
            }
        }
        c.append("\nint main(void)\n{\n");
        for (Map.Entry<String, Long> e : abi.constants().entrySet()) {
            String n = e.getKey();
            c.append("#ifdef ").append(n).append('\n')
                    .append("    printf(\"CONST %s %lld\\n\", \"").append(n).append("\", (long long)(").append(n).append("));\n")
                    .append("#else\n")
                    .append("    printf(\"CONST %s undefined\\n\", \"").append(n).append("\");\n")
                    .append("#endif\n");
        }
        for (StructLayout s : abi.structs()) {
            c.append("    printf(\"SIZE %s %zu %zu\\n\", \"").append(s.name()).append("\", sizeof(")
                    .append(cName(s)).append("), _Alignof(").append(cName(s)).append("));\n");
        }
        for (HvmSaveType t : abi.hvmSaveTypes()) {
            if (!t.variableLength()) {
                c.append("    printf(\"HVM %s %zu %zu\\n\", \"").append(t.name()).append("\", HVM_SAVE_CODE(")
                        .append(t.name()).append("), HVM_SAVE_LENGTH(").append(t.name()).append("));\n");
            }
        }
        calls.forEach(call -> c.append("    ").append(call).append("();\n"));
        c.append("    return 0;\n}\n");
        return c.toString();
    }

    /** How C names the type: {@code struct tag}, or {@code union tag} for a union declared at top level. */
    private static String cName(StructLayout s) {
        return (s.isUnion() ? "union " : "struct ") + s.name();
    }

    /**
     * One typed C store. The cast to the member's own type makes gcc do the
     * narrowing (a signed {@code char} receives 0xff as -1) without -Woverflow;
     * bitfields take the already-masked constant directly ({@code __typeof__}
     * rejects them); guest handles go through Xen's own macro.
     */
    private static String assignment(StructLayout layout, Leaf leaf, long value) {
        String literal = Values.hex(value) + "ULL";
        String lvalue = "s." + leaf.path();
        boolean handle = layout.field(leaf.path()).map(f -> f.kind() == Field.Kind.HANDLE).orElse(false);
        if (handle) {
            return "set_xen_guest_handle(" + lvalue + ", (void *)(uintptr_t)" + literal + ");";
        }
        if (leaf.isBitfield()) {
            return lvalue + " = " + literal + ";";
        }
        return lvalue + " = (__typeof__(" + lvalue + "))" + literal + ";";
    }

    private static ProbeOutput parse(String output) {
        Map<String, String> constants = new LinkedHashMap<>();
        Map<String, int[]> sizes = new LinkedHashMap<>();
        Map<String, String> bytes = new LinkedHashMap<>();
        Map<String, int[]> hvmTypes = new LinkedHashMap<>();
        for (String line : output.split("\n")) {
            String[] w = line.split(" ");
            switch (w[0]) {
                case "CONST" -> constants.put(w[1], w[2]);
                case "SIZE" -> sizes.put(w[1], new int[] {Integer.parseInt(w[2]), Integer.parseInt(w[3])});
                case "CASE" -> bytes.put(w[1], w.length > 2 ? w[2] : "");
                case "HVM" -> hvmTypes.put(w[1], new int[] {Integer.parseInt(w[2]), Integer.parseInt(w[3])});
                default -> fail("unexpected probe output line: " + line);
            }
        }
        return new ProbeOutput(constants, sizes, bytes, hvmTypes);
    }

    /** Where C and Java first disagree, and which leaves (with their values) cover that byte. */
    private static String describeMismatch(View view, Case c, String java, String gcc) {
        int i = 0;
        while (i < Math.min(java.length(), gcc.length()) && java.charAt(i) == gcc.charAt(i)) {
            i++;
        }
        int offset = i / 2;
        StringBuilder covering = new StringBuilder();
        c.values().forEach((leaf, v) -> {
            if (leaf.bitOffset() / 8 <= offset && offset <= (leaf.bitOffset() + leaf.bitWidth() - 1) / 8) {
                covering.append(' ').append(leaf.path()).append('=').append(Values.hex(v));
            }
        });
        int from = Math.max(0, offset - 4) * 2;
        return "case " + c.id() + " (" + view.label() + ", " + c.values().size() + " leaves assigned): first difference at byte "
                + offset + (covering.length() == 0 ? " (no leaf assigned there: padding)" : ", assigned there:" + covering)
                + "\n  gcc:  ..." + gcc.substring(from, Math.min(gcc.length(), from + 32))
                + "\n  java: ..." + java.substring(Math.min(from, java.length()), Math.min(java.length(), from + 32))
                + "\n  lengths gcc " + gcc.length() / 2 + " java " + java.length() / 2 + " bytes";
    }

    // ---- processes and prerequisites --------------------------------------------------------------

    /** Runs a command with bounded waiting; its stdout, or a failure showing stderr. */
    private static String run(List<String> command, String what) throws IOException, InterruptedException {
        Path out = Files.createTempFile(work, "out", ".txt");
        Path err = Files.createTempFile(work, "err", ".txt");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(what + " did not finish within " + TIMEOUT_SECONDS + " s: " + String.join(" ", command));
        }
        String stderr = Files.readString(err);
        if (p.exitValue() != 0) {
            fail(what + " exited with " + p.exitValue() + ": " + String.join(" ", command) + "\n"
                    + (stderr.length() > 8000 ? stderr.substring(0, 8000) + "\n[...]" : stderr));
        }
        return Files.readString(out);
    }

    private static Path findOnPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    /**
     * A missing compiler or missing headers: a skip that nobody can overlook, or
     * a failure where the oracle must run (-Dxenfork.requireOracle=true in CI).
     */
    private static void skipOrFail(String missing) {
        if (Boolean.getBoolean("xenfork.requireOracle")) {
            fail("C header oracle required (-Dxenfork.requireOracle=true) but " + missing + "; install with: " + INSTALL_HINT);
        }
        String message = "C header oracle SKIPPED: " + missing + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(message.length()));
        System.err.println(message);
        System.err.println("*".repeat(message.length()));
        Assumptions.abort(message);
    }
}
