package org.xenfork.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
            "Each line is UTF-8 and exactly one JSON object, each key once; a bad line is that line's error only.",
            "Examples:",
            "  xenfork abi encode --xen 4.17 xen_domctl cmd=1 interface_version=0x15 u.createdomain.max_vcpus=2",
            "  xenfork abi encode --batch cases.jsonl"})
final class AbiEncodeCommand implements Callable<Integer> {
    /** Longest batch line accepted; a longer one is reported and skipped, never buffered whole. */
    static final int MAX_LINE_BYTES = 1 << 20;
    /** How an answer that is an error starts; the line number follows. */
    static final String ERROR = "error: line ";

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
                throw new UsageException(Values.quoted(a) + " is not PATH=VALUE (e.g. u.createdomain.max_vcpus=2)");
            }
            assign(values, a.substring(0, eq), a.substring(eq + 1));
        }
        return values;
    }

    /** One PATH=VALUE, from the command line or a batch line alike: a path given twice is refused. */
    private static void assign(Map<String, String> values, String path, String value) {
        String p = path.strip();
        if (values.put(p, value) != null) {
            throw new UsageException(Values.quoted(p) + " is assigned twice");
        }
    }

    /**
     * Answers every line of the batch in order, an error naming its line for a bad one, and goes on: a
     * line too long, not UTF-8 or not one JSON object is that line's error, not the batch's.
     */
    private int runBatch(PrintWriter out) {
        boolean failed = false;
        try (InputStream in = open(batch)) {
            BoundedLineReader lines = new BoundedLineReader(in, MAX_LINE_BYTES);
            for (int n = 1; ; n++) {
                BoundedLineReader.Line line = lines.next();
                if (line == null) {
                    break;
                }
                String result = answer(n, line, abi.root.xen);
                failed |= result.startsWith(ERROR);
                out.println(result);
            }
        } catch (IOException e) {
            out.flush(); // the lines answered so far stay answered
            throw new UsageException("reading batch file " + batch + ": " + e); // a directory, unreadable
        }
        return failed ? Main.EXIT_USAGE : Main.EXIT_OK;
    }

    /**
     * What the batch prints for line {@code n}: the struct's hex, or {@code error: line N: …} on one line,
     * whatever the message quotes. {@code defaultXen} is {@code --xen}, for lines without {@code "xen"}.
     */
    static String answer(int n, BoundedLineReader.Line line, String defaultXen) {
        try {
            if (line.truncated()) {
                throw new AbiException("line longer than " + MAX_LINE_BYTES + " bytes");
            }
            return encodeLine(utf8(line.bytes()), defaultXen);
        } catch (AbiException | UsageException e) {
            return ERROR + n + ": " + e.getMessage().replace("\n", "\\n").replace("\r", "\\r");
        }
    }

    /** A line's text; bytes that are not UTF-8 are that line's error, at their column. */
    private static String utf8(byte[] bytes) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer text = CharBuffer.allocate(bytes.length);
        CoderResult r = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(in, text, true);
        if (r.isError()) {
            throw new AbiException("byte " + (in.position() + 1) + " (0x" + Integer.toHexString(bytes[in.position()] & 0xff)
                    + ") is not UTF-8; write the batch as UTF-8 text");
        }
        return text.flip().toString();
    }

    /**
     * One batch line: exactly one JSON object {@code {"xen":…,"struct":…,"fields":{…}}} and nothing after
     * it, each key once, read as a stream of tokens so nothing but the three keys is built.
     */
    private static String encodeLine(String text, String defaultXen) {
        String xen = null;
        String struct = null;
        Map<String, String> values = new LinkedHashMap<>();
        Set<String> keys = new HashSet<>();
        try (JsonParser p = AbiCommand.JSON.getFactory().createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new AbiException("expected a JSON object {\"xen\":…,\"struct\":…,\"fields\":{…}}");
            }
            for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
                String key = name(p, t);
                if (!List.of("xen", "struct", "fields").contains(key)) {
                    throw new AbiException("unknown key " + Values.quoted(key) + " (expected xen, struct, fields)");
                }
                if (!keys.add(key)) {
                    throw new UsageException(Values.quoted(key) + " is assigned twice");
                }
                JsonToken v = p.nextToken();
                switch (key) {
                    case "xen" -> xen = v == JsonToken.VALUE_NULL ? null : text(p, v, key);
                    case "struct" -> struct = v == JsonToken.VALUE_NULL ? null : text(p, v, key);
                    default -> fields(p, v, values);
                }
            }
            int end = (int) p.currentLocation().getCharOffset();
            if (!text.substring(end).chars().allMatch(c -> c == ' ' || c == '\t' || c == '\r')) {
                throw new AbiException("text after the JSON object at column " + (end + 1) + ": give one object per line");
            }
        } catch (JsonProcessingException e) {
            throw new AbiException("not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a parser over a String does no I/O
        }
        String release = xen != null ? xen : defaultXen;
        if (release == null) {
            throw new AbiException("no \"xen\" release on this line and no --xen given");
        }
        if (struct == null) {
            throw new AbiException("no \"struct\"");
        }
        return Values.toHex(StructCodec.encode(Abi.forRelease(XenRelease.parse(release)).struct(struct), values));
    }

    /** {@code "fields": {PATH: VALUE, …}}, each VALUE a string or an integer, each PATH once. */
    private static void fields(JsonParser p, JsonToken start, Map<String, String> values) throws IOException {
        if (start != JsonToken.START_OBJECT) {
            throw new AbiException("\"fields\" must be an object of path to value");
        }
        for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
            String path = name(p, t);
            JsonToken v = p.nextToken();
            if (v != JsonToken.VALUE_STRING && v != JsonToken.VALUE_NUMBER_INT) {
                throw new AbiException("value of " + Values.quoted(path)
                        + " must be a string (\"0x..\" or decimal) or an integer");
            }
            assign(values, path, p.getText());
        }
    }

    /** The key at {@code t}, in an object the parser has checked so far. */
    private static String name(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.FIELD_NAME) { // only at the end of the line: Jackson reports the rest itself
            throw new AbiException("not JSON: the object is not closed with }");
        }
        return p.currentName();
    }

    private static String text(JsonParser p, JsonToken v, String key) throws IOException {
        if (v != JsonToken.VALUE_STRING) {
            throw new AbiException("\"" + key + "\" must be a string");
        }
        return p.getText();
    }

    private static InputStream open(String file) throws IOException {
        if (file.equals("-")) {
            return System.in;
        }
        Path p = Path.of(file);
        if (!Files.exists(p)) {
            throw new UsageException("batch file " + file + " does not exist");
        }
        if (!Files.isRegularFile(p)) {
            throw new UsageException("batch file " + file + " is not a regular file");
        }
        return Files.newInputStream(p);
    }

    /** Reads lines of at most {@code max} bytes; the rest of a longer line is skipped, not stored. */
    static final class BoundedLineReader {
        record Line(byte[] bytes, boolean truncated) {
        }

        private final InputStream in;
        private final int max;

        BoundedLineReader(InputStream in, int max) {
            this.in = in instanceof BufferedInputStream ? in : new BufferedInputStream(in);
            this.max = max;
        }

        Line next() throws IOException {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            boolean truncated = false;
            int c = in.read();
            if (c < 0) {
                return null;
            }
            while (c >= 0 && c != '\n') {
                if (line.size() < max) {
                    line.write(c);
                } else {
                    truncated = true;
                }
                c = in.read();
            }
            byte[] b = line.toByteArray();
            return new Line(b.length > 0 && b[b.length - 1] == '\r' ? Arrays.copyOf(b, b.length - 1) : b, truncated);
        }
    }
}
