package org.xenfork.cli;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import org.xenfork.abi.Values;
import org.xenfork.hvmcontext.FieldValue;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmDiff;
import org.xenfork.hvmcontext.HvmRecord;

/**
 * How {@code hvm-context show} and {@code diff} print: text for people, JSON for
 * scripts. In JSON the records nest by type and instance (the vCPU for per-vCPU
 * types) and fields are named as in Xen's structs: {@code .CPU["0"].rip}.
 * Numbers are 0x-hex strings (as {@code abi decode --json}), byte arrays plain hex.
 *
 * <p>Everything is written as it is made, record by record and field by field (JSON
 * through Jackson's streaming generator, not a tree), so what a command holds is the
 * context and one record's fields, whatever the number of records or the output's size.
 */
final class HvmContextView {
    /** Byte strings longer than this are printed as a hex dump, this many bytes a line. */
    private static final int DUMP_LINE = 32;
    /** Byte strings longer than this go into JSON as hex made while it is written, not as one string. */
    private static final int HEX_STRING = 4096;

    private HvmContextView() {
    }

    static void text(HvmContext ctx, Predicate<HvmRecord> shown, PrintWriter out) {
        List<HvmRecord> records = ctx.records();
        out.printf("HVM context: %d bytes, Xen %s rules, %d records and END%n", ctx.size(), ctx.release(), records.size());
        // print, not printf, from here: a format string parsed per line was most of the cost of a long stream
        for (int i = 0; i < records.size(); i++) {
            HvmRecord r = records.get(i);
            if (!shown.test(r)) {
                continue;
            }
            out.println("[" + i + "] " + r.label() + ": " + r.length() + " bytes at " + Values.hex(ctx.offsetOf(i)) + note(r, ctx));
            r.forEachField(f -> {
                if (f.isBytes() && f.bytes().length > DUMP_LINE / 2) {
                    field(f.path(), "(" + f.bytes().length + " bytes)", out);
                    dump(f.bytes(), out);
                } else {
                    field(f.path(), f.text(), out);
                }
            });
        }
        byte[] trailing = ctx.trailing();
        out.print("END: instance " + ctx.endInstance() + ", length " + ctx.endLength() + " at "
                + Values.hex(ctx.offsetOf(records.size())));
        if (trailing.length == 0) {
            out.println();
        } else if (trailing.length <= DUMP_LINE / 2) {
            out.println("; then " + trailing.length + " bytes Xen's loader ignores: " + Values.toHex(trailing));
        } else {
            out.println("; then " + trailing.length + " bytes Xen's loader ignores:");
            dump(trailing, out);
        }
    }

    /** {@code "    path<padded to 28> value"}. */
    private static void field(String path, String value, PrintWriter out) {
        out.print("    ");
        out.print(path);
        for (int n = path.length(); n < 28; n++) {
            out.print(' ');
        }
        out.print(' ');
        out.println(value);
    }

    private static String note(HvmRecord r, HvmContext ctx) {
        if (r.type().isEmpty()) {
            return " (typecode " + r.typecode() + " is no record type of Xen " + ctx.release() + ": raw bytes)";
        }
        if (r.missingBytes() > 0) {
            return " (" + r.missingBytes() + " bytes short of " + r.layout().orElseThrow().name()
                    + ": the loader zero-extends them)";
        }
        return r.layout().orElseThrow().equals(r.type().get().layout()) ? "" : " (read as " + r.layout().orElseThrow().name() + ")";
    }

    private static void dump(byte[] b, PrintWriter out) {
        for (int i = 0; i < b.length; i += DUMP_LINE) {
            String at = Integer.toHexString(i);
            out.print("        ");
            for (int n = at.length(); n < 4; n++) {
                out.print('0');
            }
            out.print(at);
            out.print(": ");
            out.println(Values.toHex(Arrays.copyOfRange(b, i, Math.min(b.length, i + DUMP_LINE))));
        }
    }

    /**
     * {@code {"stream": {xen, bytes, records: [...], end}, "CPU": {"0": {"rip": "0x…", …}}, …}}: the stream's
     * records in order under {@code stream}, then each shown record's fields by type (in the order a type is
     * first shown) and instance. A second record of the same type and instance (Xen never writes one) is keyed
     * {@code "0#2"}.
     */
    static void json(HvmContext ctx, Predicate<HvmRecord> shown, Writer out) throws IOException {
        List<HvmRecord> records = ctx.records();
        // Each shown record's group: the rank of its type among the types shown, in order of first appearance.
        int[] rankOfCode = new int[0x10000];
        Arrays.fill(rankOfCode, -1);
        int[] group = new int[records.size()];
        int[] groupSize = new int[16];
        int groups = 0;
        try (JsonGenerator g = generator(out)) {
            g.writeStartObject();
            g.writeObjectFieldStart("stream");
            g.writeStringField("xen", ctx.release().toString());
            g.writeNumberField("bytes", ctx.size());
            g.writeArrayFieldStart("records");
            for (int i = 0; i < records.size(); i++) {
                HvmRecord r = records.get(i);
                g.writeStartObject();
                g.writeNumberField("index", i);
                g.writeStringField("type", r.name());
                g.writeNumberField("typecode", r.typecode());
                g.writeNumberField("instance", r.instance());
                g.writeStringField("offset", Values.hex(ctx.offsetOf(i)));
                g.writeNumberField("length", r.length());
                if (r.layout().isPresent()) {
                    g.writeStringField("struct", r.layout().get().name());
                }
                if (r.missingBytes() > 0) {
                    g.writeNumberField("missing_bytes", r.missingBytes());
                }
                g.writeEndObject();
                group[i] = -1;
                if (shown.test(r)) {
                    if (rankOfCode[r.typecode()] < 0) {
                        if (groups == groupSize.length) {
                            groupSize = Arrays.copyOf(groupSize, groups * 2);
                        }
                        rankOfCode[r.typecode()] = groups++;
                    }
                    group[i] = rankOfCode[r.typecode()];
                    groupSize[group[i]]++;
                }
            }
            g.writeEndArray();
            byte[] trailing = ctx.trailing();
            g.writeObjectFieldStart("end");
            g.writeNumberField("instance", ctx.endInstance());
            g.writeNumberField("length", ctx.endLength());
            g.writeStringField("offset", Values.hex(ctx.offsetOf(records.size())));
            g.writeFieldName("trailing");
            writeHex(g, trailing);
            g.writeEndObject();
            g.writeEndObject();
            writeGroups(g, records, group, groupSize, groups);
            g.writeEndObject();
        }
    }

    /** The shown records' fields, one object per type in rank order, records in stream order inside it. */
    private static void writeGroups(JsonGenerator g, List<HvmRecord> records, int[] group, int[] groupSize, int groups)
            throws IOException {
        // Counting sort of the shown records by group: linear, one int per record.
        int[] start = new int[groups + 1];
        for (int k = 0; k < groups; k++) {
            start[k + 1] = start[k] + groupSize[k];
        }
        int[] order = new int[start[groups]];
        int[] next = Arrays.copyOf(start, groups);
        for (int i = 0; i < group.length; i++) {
            if (group[i] >= 0) {
                order[next[group[i]]++] = i;
            }
        }
        int[] seen = new int[0x10000]; // occurrences of each instance inside the type being written
        for (int k = 0; k < groups; k++) {
            g.writeObjectFieldStart(records.get(order[start[k]]).name());
            for (int n = start[k]; n < start[k + 1]; n++) {
                HvmRecord r = records.get(order[n]);
                int occurrence = ++seen[r.instance()];
                g.writeObjectFieldStart(r.instance() + (occurrence == 1 ? "" : "#" + occurrence));
                r.forEachField(f -> {
                    try {
                        g.writeFieldName(f.path());
                        if (f.isBytes()) {
                            writeHex(g, f.bytes());
                        } else {
                            g.writeString(f.text());
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
                g.writeEndObject();
            }
            for (int n = start[k]; n < start[k + 1]; n++) {
                seen[records.get(order[n]).instance()] = 0;
            }
            g.writeEndObject();
        }
    }

    /** Prints each difference as it is found; returns how many there were. */
    static long diffText(HvmContext a, HvmContext b, PrintWriter out) {
        long[] seen = {0};
        long n = HvmDiff.each(a, b, d -> {
            if (seen[0]++ < MAX_SHOWN) {
                out.println(d);
            }
        });
        if (n > MAX_SHOWN) {
            out.println("… " + (n - MAX_SHOWN) + " more differences left out (diff prints the first " + MAX_SHOWN + ")");
        }
        return n;
    }

    /**
     * The most differences {@code diff} prints one by one; the rest are counted in one closing line (JSON: an
     * object with only {@code "left_out": {"differences": N}}). A byte string is already cut to
     * {@value HvmDiff#MAX_RUNS} runs, but a guest-shaped CPU_MSR record of four million entries that all
     * differ would still make millions of lines.
     */
    static final int MAX_SHOWN = 10_000;

    /**
     * {@code [{"type": "CPU", "instance": 0, "vcpu": true, "field": "rip", "a": "0x…", "b": "0x…"}, …]}; null where
     * absent; the summary of a byte string's runs after the first {@value HvmDiff#MAX_RUNS} has {@code a} and
     * {@code b} null and {@code "left_out": {"runs": N, "bytes": M}}; after {@link #MAX_SHOWN} differences, one
     * last object {@code {"left_out": {"differences": N}}}. Returns how many differences there were.
     */
    static long diffJson(HvmContext a, HvmContext b, Writer out) throws IOException {
        try (JsonGenerator g = generator(out)) {
            g.writeStartArray();
            long[] seen = {0};
            long n = HvmDiff.each(a, b, d -> {
                if (seen[0]++ >= MAX_SHOWN) {
                    return;
                }
                try {
                    g.writeStartObject();
                    g.writeStringField("type", d.type());
                    g.writeNumberField("instance", d.instance());
                    g.writeBooleanField("vcpu", d.perVcpu());
                    g.writeStringField("field", d.field());
                    g.writeStringField("a", d.a());
                    g.writeStringField("b", d.b());
                    if (d.leftOut() != null) {
                        g.writeObjectFieldStart("left_out");
                        g.writeNumberField("runs", d.leftOut().runs());
                        g.writeNumberField("bytes", d.leftOut().bytes());
                        g.writeEndObject();
                    }
                    g.writeEndObject();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            if (n > MAX_SHOWN) {
                g.writeStartObject();
                g.writeObjectFieldStart("left_out");
                g.writeNumberField("differences", n - MAX_SHOWN);
                g.writeEndObject();
                g.writeEndObject();
            }
            g.writeEndArray();
            return n;
        }
    }

    /** A compact generator that leaves {@code out} open (it is the command's stdout). */
    private static JsonGenerator generator(Writer out) throws IOException {
        return AbiCommand.JSON.getFactory().createGenerator(out).disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
    }

    /** A byte string as a plain-hex JSON string; a long one made while it is written, not held twice over as text. */
    private static void writeHex(JsonGenerator g, byte[] bytes) throws IOException {
        if (bytes.length <= HEX_STRING) {
            g.writeString(Values.toHex(bytes));
        } else {
            g.writeString(new HexReader(bytes), bytes.length * 2);
        }
    }

    /** The lowercase hex of a byte array, as characters read on demand. */
    private static final class HexReader extends Reader {
        private static final char[] DIGITS = "0123456789abcdef".toCharArray();
        private final byte[] bytes;
        private int at; // in characters: two per byte

        HexReader(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public int read(char[] buf, int off, int len) {
            int end = bytes.length * 2;
            if (at == end) {
                return -1;
            }
            int n = Math.min(len, end - at);
            for (int k = 0; k < n; k++, at++) {
                int b = bytes[at >> 1];
                buf[off + k] = DIGITS[(at & 1) == 0 ? (b >> 4) & 0xf : b & 0xf];
            }
            return n;
        }

        @Override
        public void close() {
            // nothing to release
        }
    }
}
