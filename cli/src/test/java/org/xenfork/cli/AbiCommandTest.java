package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.ReferenceData;

/** The {@code xenfork abi} commands as scripts see them: stdout, stderr and exit code. */
class AbiCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Run(int code, String out, String err) {
        List<String> lines() {
            return out.isEmpty() ? List.of() : List.of(out.split("\n"));
        }
    }

    static Run xenfork(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString().replace("\r", ""), err.toString());
    }

    @Test
    void versionsListsEveryReleaseWithItsInterfaceVersions() throws IOException {
        Run r = xenfork("abi", "versions", "--json");
        assertThat(r.code()).isZero();
        JsonNode arr = JSON.readTree(r.out());
        assertThat(arr).hasSize(XenRelease.SUPPORTED.size());
        for (JsonNode v : arr) {
            String release = v.get("xen").asText();
            JsonNode measured = ReferenceData.layouts(release).stream()
                    .filter(n -> n.path("name").asText().equals("XEN_DOMCTL_INTERFACE_VERSION")).findFirst().orElseThrow();
            assertThat(v.get("domctl_interface_version").asText()).isEqualTo(measured.get("hex").asText());
        }
        assertThat(xenfork("abi", "versions").lines()).hasSize(XenRelease.SUPPORTED.size() + 1).anySatisfy(l -> assertThat(l).matches("4\\.16 +0x14 +0x14 *"));
    }

    /** The sizes and offsets are gcc's for each release's headers, so a new release brings its own. */
    @ParameterizedTest(name = "Xen {0}: createdomain as gcc measured it")
    @MethodSource("org.xenfork.abi.Releases#all")
    void layoutPrintsReleaseSpecificSizes(String release) throws IOException {
        int size = measured(release, "struct", "xen_domctl_createdomain", null).get("size").asInt();
        int archOffset = measured(release, "field", "xen_domctl_createdomain", "arch.emulation_flags").get("offset").asInt();
        JsonNode o = JSON.readTree(xenfork("abi", "layout", "--xen", release, "--json", "xen_domctl_createdomain").out());
        assertThat(o.get("size").asInt()).isEqualTo(size);
        JsonNode arch = null;
        for (JsonNode f : o.get("fields")) {
            if (f.get("path").asText().equals("arch.emulation_flags")) {
                arch = f;
            }
        }
        assertThat(arch).isNotNull();
        assertThat(arch.get("offset").asInt()).isEqualTo(archOffset);
    }

    private static JsonNode measured(String release, String kind, String struct, String path) {
        return ReferenceData.layouts(release).stream()
                .filter(n -> n.path("kind").asText().equals(kind) && n.path("struct").asText().equals(struct)
                        && (path == null || n.path("path").asText().equals(path)))
                .findFirst().orElseThrow(() -> new AssertionError("no " + kind + " " + struct + " "
                        + (path == null ? "" : path) + " in layouts-" + release + ".jsonl"));
    }

    @Test
    void layoutTextShowsOffsetsAndBitfields() {
        Run r = xenfork("--xen", "4.17", "abi", "layout", "hvm_hw_cpu");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("struct hvm_hw_cpu (Xen 4.17): size 1032, align 8")
                .containsPattern("\\n +640 +8  uint64_t +rip\\n")
                .containsPattern("1017 +:3  uint8_t \\(bits 0\\.\\.2 from byte 1017\\) +pending_type");
        Run union = xenfork("--xen", "4.17", "abi", "layout", "vioapic_redir_entry");
        assertThat(union.out()).as("a union says so").startsWith("union vioapic_redir_entry (Xen 4.17): size 8");
    }

    @Test
    void encodeMatchesTheGoldenBytesOfEveryCase() {
        for (JsonNode golden : ReferenceData.golden("4.17")) {
            List<String> args = new ArrayList<>(List.of("abi", "encode", "--xen", "4.17", golden.get("struct").asText()));
            golden.get("fields").forEach(f -> args.add(f.get("path").asText() + "=" + f.get("value").asText()));
            Run r = xenfork(args.toArray(String[]::new));
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out().strip()).as(golden.get("case").asText()).isEqualTo(golden.get("hex").asText());
        }
    }

    @Test
    void decodeJsonIsOneFlatObjectOfHexValuesFollowingTheSelector() throws IOException {
        JsonNode golden = ReferenceData.golden("4.16").stream()
                .filter(g -> g.get("case").asText().equals("domctl_getdomaininfo_response")).findFirst().orElseThrow();
        Run r = xenfork("abi", "decode", "--xen", "4.16", "--json", "xen_domctl", golden.get("hex").asText());
        assertThat(r.code()).isZero();
        JsonNode o = JSON.readTree(r.out());
        golden.get("fields").forEach(f -> assertThat(o.get(f.get("path").asText()).asText()).isEqualTo(f.get("value").asText()));
        assertThat(o.has("u.createdomain.max_vcpus")).as("only the member cmd selects").isFalse();

        Run member = xenfork("abi", "decode", "--xen", "4.16", "--member", "max_vcpus", "xen_domctl", golden.get("hex").asText());
        assertThat(member.lines()).contains("u.max_vcpus.max=0x12021101").noneMatch(l -> l.startsWith("u.getdomaininfo"));
    }

    @Test
    void decodeOfACommandWithoutPayloadShowsTheHeaderOnly() {
        String hex = xenfork("abi", "encode", "--xen", "4.18", "xen_domctl", "cmd=3", "domain=7").out().strip();
        assertThat(xenfork("abi", "decode", "--xen", "4.18", "xen_domctl", hex).lines())
                .containsExactly("cmd=0x3", "interface_version=0x0", "domain=0x7", "_pad[0]=0x0", "_pad[1]=0x0", "_pad[2]=0x0");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "unknown release      | abi encode --xen 4.9 xen_domctl cmd=1                     | supported are 4.14",
        "no release           | abi layout xen_domctl                                     | needs --xen X.Y",
        "unknown struct       | abi layout --xen 4.17 xen_domctl_createdomian             | nearest: xen_domctl_createdomain",
        "unknown field        | abi encode --xen 4.17 xen_domctl u.createdomain.max_vcpu=2 | nearest: u.createdomain.max_vcpus",
        "too wide             | abi encode --xen 4.17 xen_domctl domain=0x10000            | domain is domid_t (16 bits): value 0x10000 does not fit",
        "negative unsigned    | abi encode --xen 4.17 xen_domctl cmd=-1                    | negative value -1 is not allowed",
        "malformed value      | abi encode --xen 4.17 xen_domctl cmd=0x1g                  | malformed value \"0x1g\" for cmd",
        "not an assignment    | abi encode --xen 4.17 xen_domctl cmd                       | \"cmd\" is not PATH=VALUE",
        "aggregate path       | abi encode --xen 4.17 xen_domctl u.createdomain.arch=1     | is an aggregate (struct xen_arch_domainconfig)",
        "odd hex              | abi decode --xen 4.17 xen_domctl_max_vcpus 123             | odd number of digits",
        "bad hex digit        | abi decode --xen 4.17 xen_domctl_max_vcpus 0102030g        | 'g' at position 7",
        "wrong length         | abi decode --xen 4.17 xen_domctl_max_vcpus 0102            | xen_domctl_max_vcpus is 4 bytes; got 2 bytes",
        "unknown member       | abi decode --xen 4.17 --member nope xen_domctl_max_vcpus 01020304 | --member applies to structs with a selected union",
        "missing operand      | abi decode --xen 4.17 xen_domctl                           | Missing required parameter",
    })
    void badInputIsExitCode2WithAClearMessage(String what, String command, String message) {
        Run r = xenfork(command.strip().split(" +"));
        assertThat(r.code()).as(what).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).as(what).contains(message.strip());
        assertThat(r.out()).as(what).isEmpty();
    }

    @Test
    void signedFieldsTakeNegativeValues() {
        Run r = xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_createdomain", "max_grant_frames=-1");
        assertThat(r.code()).isZero();
        assertThat(r.out().strip()).startsWith("000000000000000000000000000000000000000000000000000000000000000000000000ffffffff");
    }

    @Test
    void batchAnswersEveryLineInOrderAndGoesOnAfterErrors(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("cases.jsonl");
        Files.writeString(file, String.join("\n",
                "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":\"0x2\"}}",
                "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":\"0x100000000\"}}",
                "not json",
                "{\"xen\":\"4.21\",\"struct\":\"hvm_hw_lapic\",\"fields\":{\"pending_esr\":5,\"disabled\":\"1\"}}",
                "{\"xen\":\"4.20\",\"struct\":\"hvm_hw_lapic\",\"fields\":{\"pending_esr\":5}}",
                "{\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":1.5}}",
                "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"extra\":1}",
                "{\"fields\":{\"max\":1},\"struct\":\"xen_domctl_max_vcpus\"}") + "\n");
        Run r = xenfork("abi", "encode", "--batch", file.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        List<String> lines = r.lines();
        assertThat(lines).hasSize(8);
        assertThat(lines.get(0)).isEqualTo("02000000");
        assertThat(lines.get(1)).startsWith("error: line 2: max is uint32_t (32 bits): value 0x100000000 does not fit");
        assertThat(lines.get(2)).startsWith("error: line 3: not JSON");
        assertThat(lines.get(3)).isEqualTo("0000000000000000" + "01000000" + "00000000" + "0000000000000000" + "05000000" + "00000000");
        assertThat(lines.get(4)).startsWith("error: line 5: no field \"pending_esr\" in hvm_hw_lapic");
        assertThat(lines.get(5)).startsWith("error: line 6: value of \"max\" must be a string");
        assertThat(lines.get(6)).startsWith("error: line 7: unknown key \"extra\"");
        assertThat(lines.get(7)).isEqualTo("error: line 8: no \"xen\" release on this line and no --xen given");
    }

    @Test
    void batchUsesXenOptionWhenALineHasNone(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("one.jsonl");
        Files.writeString(file, "{\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":3}}\n");
        Run r = xenfork("--xen", "4.22", "abi", "encode", "--batch", file.toString());
        assertThat(r.code()).isZero();
        assertThat(r.lines()).containsExactly("03000000");
    }

    @Test
    void batchRejectsAnOverlongLineWithoutBufferingIt(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("long.jsonl");
        Files.writeString(file, "x".repeat(AbiEncodeCommand.MAX_LINE_BYTES + 10) + "\n"
                + "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":1}}\n");
        Run r = xenfork("abi", "encode", "--batch", file.toString());
        assertThat(r.lines()).hasSize(2);
        assertThat(r.lines().get(0)).startsWith("error: line 1: line longer than");
        assertThat(r.lines().get(1)).isEqualTo("01000000");
    }

    @Test
    void batchFileThatDoesNotExistIsUsageError(@TempDir Path dir) {
        Run r = xenfork("abi", "encode", "--batch", dir.resolve("nope.jsonl").toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("does not exist");
    }

    @Test
    void everyCommandHasHelpWithAnExample() {
        for (String[] cmd : List.of(new String[] {"abi", "versions"}, new String[] {"abi", "layout"},
                new String[] {"abi", "encode"}, new String[] {"abi", "decode"})) {
            Run r = xenfork(cmd[0], cmd[1], "--help");
            assertThat(r.code()).isZero();
            assertThat(r.out()).contains("Usage: xenfork abi " + cmd[1]).contains("Example");
        }
    }

    @Test
    void unreadableBatchInputIsAUsageError(@TempDir Path dir) {
        Run d = xenfork("abi", "encode", "--batch", dir.toString());
        assertThat(d.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(d.err()).contains("is not a regular file");
    }

    @Test
    void hexIsAsciiOnly() {
        Run r = xenfork("abi", "decode", "--xen", "4.17", "xen_domctl_max_vcpus", "\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
    }

    private static final String MAX_VCPUS = "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":1}}";

    /**
     * Issue 16 item 9: a 1 MB struct name (32 s of edit distances before) and a 900,000-digit value (16 s, echoed as
     * 750 KB of hex) are refused by line, quoted short; their cost is XlConfigFuzzTest's and BatchEncodeFuzzTest's
     * budget, not a timer here.
     */
    @Test
    void batchRefusesAHugeNameAndAHugeValueWithoutEchoingThem(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("huge.jsonl");
        Files.writeString(file, "{\"xen\":\"4.17\",\"struct\":\"" + "x".repeat(1_000_000) + "\"}\n"
                + "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":\"" + "9".repeat(900_000)
                + "\"}}\n" + "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"" + "m".repeat(40_000)
                + "\":1}}\n" + MAX_VCPUS + "\n");
        Run r = xenfork("abi", "encode", "--batch", file.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.lines()).hasSize(4);
        assertThat(r.lines().get(0)).startsWith("error: line 1: no struct \"xxxxx").endsWith("... (1000000 characters) in "
                + "the Xen 4.17 ABI").hasSizeLessThan(300);
        assertThat(r.lines().get(1)).isEqualTo("error: line 2: value for max has 900000 significant decimal digits; a "
                + "32-bit field holds at most 10");
        assertThat(r.lines().get(2)).startsWith("error: line 3: no field \"mmmm").endsWith("... (40000 characters) in "
                + "xen_domctl_max_vcpus").hasSizeLessThan(300);
        assertThat(r.lines().get(3)).isEqualTo("01000000");
    }

    /** Leading zeros are not digits a field has to hold; a value that does not fit is still said short. */
    @Test
    void valuesAreCappedByTheirFieldsWidth() {
        assertThat(xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=" + "0".repeat(5000) + "7")
                .out().strip()).isEqualTo("07000000");
        assertThat(xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=0x" + "f".repeat(10)).err())
                .contains("value for max has 10 significant hex digits; a 32-bit field holds at most 8");
        assertThat(xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=999999999999").err())
                .contains("value for max has 12 significant decimal digits");
        assertThat(xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=99999999999").err())
                .contains("max is uint32_t (32 bits): value 0x174876e7ff does not fit");
        assertThat(xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=9999999999").err())
                .contains("max is uint32_t (32 bits): value 0x2540be3ff does not fit");
    }

    /**
     * Issue 16 item 10: a batch line is exactly one JSON object, each key once (in the command line's words), and
     * a line that is not UTF-8 is that line's error: the lines around it are answered.
     */
    @Test
    void batchLinesAreAsStrictAsTheCommandLine(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("strict.jsonl");
        byte[] notUtf8 = "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":\"\u00ff\"}}"
                .getBytes(StandardCharsets.ISO_8859_1);
        try (var out = Files.newOutputStream(file)) {
            out.write((MAX_VCPUS + " trailing\n"
                    + MAX_VCPUS + MAX_VCPUS + "\n"
                    + "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"fields\":{\"max\":1,\"max\":2}}\n"
                    + "{\"xen\":\"4.17\",\"struct\":\"xen_domctl_max_vcpus\",\"struct\":\"xen_domctl\"}\n"
                    + MAX_VCPUS + "\n").getBytes(StandardCharsets.UTF_8));
            out.write(notUtf8);
            out.write(("\n" + MAX_VCPUS + "   \r\n").getBytes(StandardCharsets.UTF_8));
        }
        Run r = xenfork("abi", "encode", "--batch", file.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.lines()).containsExactly(
                "error: line 1: text after the JSON object at column 66: give one object per line",
                "error: line 2: text after the JSON object at column 66: give one object per line",
                "error: line 3: \"max\" is assigned twice",
                "error: line 4: \"struct\" is assigned twice",
                "01000000",
                "error: line 6: byte 64 (0xff) is not UTF-8; write the batch as UTF-8 text",
                "01000000");
        Run commandLine = xenfork("abi", "encode", "--xen", "4.17", "xen_domctl_max_vcpus", "max=1", "max=2");
        assertThat(commandLine.err()).isEqualTo("xenfork: \"max\" is assigned twice\n");
    }
}
