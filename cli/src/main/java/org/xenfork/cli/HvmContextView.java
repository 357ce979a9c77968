package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 */
final class HvmContextView {
    /** Byte strings longer than this are printed as a hex dump, this many bytes a line. */
    private static final int DUMP_LINE = 32;

    private HvmContextView() {
    }

    static void text(HvmContext ctx, Predicate<HvmRecord> shown, PrintWriter out) {
        out.printf("HVM context: %d bytes, Xen %s rules, %d records and END%n", ctx.size(), ctx.release(),
                ctx.records().size());
        for (int i = 0; i < ctx.records().size(); i++) {
            HvmRecord r = ctx.records().get(i);
            if (!shown.test(r)) {
                continue;
            }
            out.printf("[%d] %s: %d bytes at %s%s%n", i, r.label(), r.length(), Values.hex(ctx.offsetOf(i)), note(r, ctx));
            for (FieldValue f : r.fields()) {
                if (f.isBytes() && f.bytes().length > DUMP_LINE / 2) {
                    out.printf("    %-28s %s%n", f.path(), "(" + f.bytes().length + " bytes)");
                    dump(f.bytes(), out);
                } else {
                    out.printf("    %-28s %s%n", f.path(), f.text());
                }
            }
        }
        out.printf("END: instance %d, length %d at %s%s%n", ctx.endInstance(), ctx.endLength(),
                Values.hex(ctx.offsetOf(ctx.records().size())), ctx.trailing().length == 0 ? ""
                        : "; then " + ctx.trailing().length + " bytes Xen's loader ignores: " + Values.toHex(ctx.trailing()));
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
            out.printf("        %04x: %s%n", i, Values.toHex(java.util.Arrays.copyOfRange(b, i, Math.min(b.length, i + DUMP_LINE))));
        }
    }

    /**
     * {@code {"stream": {xen, bytes, records: [...], end}, "CPU": {"0": {"rip": "0x…", …}}, …}}: the stream's
     * records in order under {@code stream}, then each shown record's fields by type and instance. A second
     * record of the same type and instance (Xen never writes one) is keyed {@code "0#2"}.
     */
    static ObjectNode json(HvmContext ctx, Predicate<HvmRecord> shown) {
        ObjectNode root = AbiCommand.JSON.createObjectNode();
        ObjectNode stream = root.putObject("stream").put("xen", ctx.release().toString()).put("bytes", ctx.size());
        ArrayNode records = stream.putArray("records");
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < ctx.records().size(); i++) {
            HvmRecord r = ctx.records().get(i);
            ObjectNode entry = records.addObject().put("index", i).put("type", r.name()).put("typecode", r.typecode())
                    .put("instance", r.instance()).put("offset", Values.hex(ctx.offsetOf(i))).put("length", r.length());
            r.layout().ifPresent(l -> entry.put("struct", l.name()));
            if (r.missingBytes() > 0) {
                entry.put("missing_bytes", r.missingBytes());
            }
            if (!shown.test(r)) {
                continue;
            }
            ObjectNode byInstance = root.has(r.name()) ? (ObjectNode) root.get(r.name()) : root.putObject(r.name());
            int n = seen.merge(r.name() + "/" + r.instance(), 1, Integer::sum);
            ObjectNode fields = byInstance.putObject(r.instance() + (n == 1 ? "" : "#" + n));
            r.fields().forEach(f -> fields.put(f.path(), f.text()));
        }
        stream.putObject("end").put("instance", ctx.endInstance()).put("length", ctx.endLength())
                .put("offset", Values.hex(ctx.offsetOf(ctx.records().size())))
                .put("trailing", Values.toHex(ctx.trailing()));
        return root;
    }

    static void diffText(List<HvmDiff.Difference> differences, PrintWriter out) {
        differences.forEach(out::println);
    }

    /** {@code [{"type": "CPU", "instance": 0, "vcpu": true, "field": "rip", "a": "0x…", "b": "0x…"}, …]}; null where absent. */
    static ArrayNode diffJson(List<HvmDiff.Difference> differences) {
        ArrayNode arr = AbiCommand.JSON.createArrayNode();
        for (HvmDiff.Difference d : differences) {
            ObjectNode o = arr.addObject().put("type", d.type()).put("instance", d.instance()).put("vcpu", d.perVcpu());
            o.put("field", d.field());
            o.put("a", d.a());
            o.put("b", d.b());
        }
        return arr;
    }
}
