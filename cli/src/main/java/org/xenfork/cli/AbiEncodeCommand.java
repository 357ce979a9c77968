package org.xenfork.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.xenfork.abi.Abi;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork abi encode}: a struct from {@code path=value} assignments, or a
 * batch of them as JSON lines, printed as lowercase hex of the whole struct.
 */
@Command(name = "encode",
        description = "Encode a struct from PATH=VALUE assignments and print all its bytes as lowercase hex; unset bytes are zero.",
        footer = {"", "PATH is Xen's C path (u.createdomain.handle[3], u.createdomain.arch.emulation_flags);",
            "VALUE is decimal or 0x-hex. Negative values only for signed fields.",
            "--batch FILE reads JSON lines {\"xen\":\"4.17\",\"struct\":\"xen_domctl\",\"fields\":{\"cmd\":\"0x1\"}} (FILE - is stdin)",
            "and prints one line per input line, in order: the hex, or 'error: line N: ...'; exit code 2 if any line failed.",
            "Examples:",
            "  xenfork abi encode --xen 4.17 xen_domctl cmd=1 interface_version=0x15 u.createdomain.max_vcpus=2",
            "  xenfork abi encode --batch cases.jsonl"})
final class AbiEncodeCommand implements Callable<Integer> {
    /** Longest batch line accepted; a longer one is reported and skipped, never buffered whole. */
    static final int MAX_LINE_CHARS = 1 << 20;

    @ParentCommand
    AbiCommand abi;

    @Spec
    CommandSpec spec;

    @Option(names = "--batch", paramLabel = "FILE", description = "Encode each JSON line of FILE (- for standard input).")
    String batch;

    @Parameters(index = "0", arity = "0..1", paramLabel = "STRUCT", description = "Xen's struct name, e.g. xen_domctl.")
    String struct;

    @Parameters(index = "1..*", arity = "0..*", paramLabel = "PATH=VALUE", description = "Field assignments.")
    List<String> assignments = List.of();

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (batch != null) {
            if (struct != null) {
                throw new UsageException("abi encode takes either --batch FILE or STRUCT PATH=VALUE…, not both");
            }
            return runBatch(out);
        }
        if (struct == null) {
            throw new UsageException("abi encode needs STRUCT and PATH=VALUE assignments, or --batch FILE");
        }
        Abi a = abi.abi("encode");
        String hex = Values.toHex(StructCodec.encode(a.struct(struct), parseAssignments(assignments)));
        if (abi.root.json) {
            out.println(AbiCommand.JSON.createObjectNode().put("xen", a.release().toString())
                    .put("struct", a.struct(struct).name()).put("hex", hex));
        } else {
            out.println(hex);
        }
        return Main.EXIT_OK;
    }

    static Map<String, String> parseAssignments(List<String> list) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String a : list) {
            int eq = a.indexOf('=');
            if (eq <= 0) {
                throw new UsageException("'" + a + "' is not PATH=VALUE (e.g. u.createdomain.max_vcpus=2)");
            }
            String path = a.substring(0, eq).strip();
            if (values.put(path, a.substring(eq + 1)) != null) {
                throw new UsageException(path + " is assigned twice");
            }
        }
        return values;
    }

    private int runBatch(PrintWriter out) {
        boolean failed = false;
        try (Reader reader = open(batch)) {
            BoundedLineReader lines = new BoundedLineReader(reader, MAX_LINE_CHARS);
            for (int n = 1; ; n++) {
                BoundedLineReader.Line line = lines.next();
                if (line == null) {
                    break;
                }
                String result;
                try {
                    if (line.truncated()) {
                        throw new AbiException("line longer than " + MAX_LINE_CHARS + " characters");
                    }
                    result = encodeLine(line.text());
                } catch (AbiException | UsageException e) {
                    result = "error: line " + n + ": " + e.getMessage();
                    failed = true;
                }
                out.println(result);
            }
        } catch (IOException e) {
            out.flush(); // the lines answered so far stay answered
            throw new UsageException("reading batch file " + batch + ": " + e); // not UTF-8, a directory, unreadable
        }
        return failed ? Main.EXIT_USAGE : Main.EXIT_OK;
    }

    private String encodeLine(String text) {
        JsonNode node;
        try {
            node = AbiCommand.JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new AbiException("not JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new AbiException("expected a JSON object {\"xen\":…,\"struct\":…,\"fields\":{…}}");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!List.of("xen", "struct", "fields").contains(key)) {
                throw new AbiException("unknown key \"" + key + "\" (expected xen, struct, fields)");
            }
        }
        String xen = node.hasNonNull("xen") ? text(node, "xen") : abi.root.xen;
        if (xen == null) {
            throw new AbiException("no \"xen\" release on this line and no --xen given");
        }
        if (!node.hasNonNull("struct")) {
            throw new AbiException("no \"struct\"");
        }
        JsonNode fields = node.path("fields");
        if (!fields.isMissingNode() && !fields.isObject()) {
            throw new AbiException("\"fields\" must be an object of path to value");
        }
        Map<String, String> values = new LinkedHashMap<>();
        fields.properties().forEach(e -> {
            JsonNode v = e.getValue();
            if (v.isTextual()) {
                values.put(e.getKey(), v.asText());
            } else if (v.isIntegralNumber()) {
                values.put(e.getKey(), v.bigIntegerValue().toString());
            } else {
                throw new AbiException("value of " + e.getKey() + " must be a string (\"0x..\" or decimal) or an integer");
            }
        });
        return Values.toHex(StructCodec.encode(Abi.forRelease(XenRelease.parse(xen)).struct(text(node, "struct")), values));
    }

    private static String text(JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (!v.isTextual()) {
            throw new AbiException("\"" + key + "\" must be a string");
        }
        return v.asText();
    }

    private static Reader open(String file) throws IOException {
        if (file.equals("-")) {
            return new InputStreamReader(System.in, StandardCharsets.UTF_8);
        }
        Path p = Path.of(file);
        if (!Files.exists(p)) {
            throw new UsageException("batch file " + file + " does not exist");
        }
        if (!Files.isRegularFile(p)) {
            throw new UsageException("batch file " + file + " is not a regular file");
        }
        return Files.newBufferedReader(p, StandardCharsets.UTF_8);
    }

    /** Reads lines of at most {@code max} characters; the rest of a longer line is skipped, not stored. */
    static final class BoundedLineReader {
        record Line(String text, boolean truncated) {
        }

        private final Reader in;
        private final int max;

        BoundedLineReader(Reader in, int max) {
            this.in = in instanceof BufferedReader ? in : new BufferedReader(in);
            this.max = max;
        }

        Line next() throws IOException {
            StringBuilder sb = new StringBuilder();
            boolean truncated = false;
            int c = in.read();
            if (c < 0) {
                return null;
            }
            while (c >= 0 && c != '\n') {
                if (sb.length() < max) {
                    sb.append((char) c);
                } else {
                    truncated = true;
                }
                c = in.read();
            }
            int len = sb.length();
            if (len > 0 && sb.charAt(len - 1) == '\r') {
                sb.setLength(len - 1);
            }
            return new Line(sb.toString(), truncated);
        }
    }
}
