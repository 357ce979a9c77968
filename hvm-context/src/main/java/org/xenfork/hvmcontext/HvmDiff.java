package org.xenfork.hvmcontext;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.xenfork.abi.Values;

/**
 * Field-level differences between two HVM contexts, per record type and
 * instance (vCPU for per-vCPU records). Records are paired by typecode,
 * instance and, for a repeated pair, occurrence; a field is a leaf of the
 * record's layout, and a byte string (such as {@code fpu_regs}) differs in runs
 * of bytes, each reported as {@code path[from..to]}.
 */
public final class HvmDiff {
    private HvmDiff() {
    }

    /**
     * One difference. {@code field} is null when the whole record is on one side
     * only; {@code a} or {@code b} is null where that side lacks the record or field.
     * Values are the {@link FieldValue#text} of each side.
     */
    public record Difference(String type, int instance, boolean perVcpu, String field, String a, String b) {
        /** {@code CPU vcpu 0}, {@code PIC instance 1}. */
        public String record() {
            return type + (perVcpu ? " vcpu " : " instance ") + instance;
        }

        @Override
        public String toString() {
            String left = a == null ? "(absent)" : a;
            String right = b == null ? "(absent)" : b;
            return record() + ": " + (field == null ? "" : field + " ") + left + " -> " + right;
        }
    }

    private record Key(int typecode, int instance, int occurrence) {
    }

    /** Every difference, in A's record order, then records only B has, then END and what follows it. */
    public static List<Difference> between(HvmContext a, HvmContext b) {
        Map<Key, HvmRecord> left = keyed(a);
        Map<Key, HvmRecord> right = keyed(b);
        List<Difference> out = new ArrayList<>();
        left.forEach((key, ra) -> {
            HvmRecord rb = right.get(key);
            if (rb == null) {
                out.add(new Difference(ra.name(), ra.instance(), ra.isPerVcpu(), null, ra.length() + " bytes", null));
            } else {
                compare(ra, rb, out);
            }
        });
        right.forEach((key, rb) -> {
            if (!left.containsKey(key)) {
                out.add(new Difference(rb.name(), rb.instance(), rb.isPerVcpu(), null, null, rb.length() + " bytes"));
            }
        });
        if (a.endInstance() != b.endInstance()) {
            out.add(new Difference("END", 0, false, "instance", Values.hex(a.endInstance()), Values.hex(b.endInstance())));
        }
        if (a.endLength() != b.endLength()) {
            out.add(new Difference("END", 0, false, "length", Values.hex(a.endLength()), Values.hex(b.endLength())));
        }
        bytes("END", 0, false, "trailing", a.trailing(), b.trailing(), out);
        return out;
    }

    private static Map<Key, HvmRecord> keyed(HvmContext c) {
        Map<Key, HvmRecord> out = new LinkedHashMap<>();
        Map<Long, Integer> seen = new HashMap<>();
        for (HvmRecord r : c.records()) {
            int n = seen.merge(((long) r.typecode() << 32) | r.instance(), 1, Integer::sum);
            out.put(new Key(r.typecode(), r.instance(), n), r);
        }
        return out;
    }

    private static void compare(HvmRecord ra, HvmRecord rb, List<Difference> out) {
        if (Arrays.equals(ra.bodyRef(), rb.bodyRef())) {
            return; // the same bytes read with the same layout
        }
        String type = ra.name();
        int instance = ra.instance();
        boolean vcpu = ra.isPerVcpu();
        if (ra.length() != rb.length()) {
            out.add(new Difference(type, instance, vcpu, "length", Integer.toString(ra.length()), Integer.toString(rb.length())));
        }
        Map<String, FieldValue> fb = new LinkedHashMap<>();
        rb.fields().forEach(f -> fb.put(f.path(), f));
        for (FieldValue fa : ra.fields()) {
            FieldValue other = fb.remove(fa.path());
            if (other == null) {
                out.add(new Difference(type, instance, vcpu, fa.path(), fa.text(), null));
            } else if (fa.isBytes() && other.isBytes()) {
                bytes(type, instance, vcpu, fa.path(), fa.bytes(), other.bytes(), out);
            } else if (fa.isBytes() != other.isBytes() || fa.bits() != other.bits()) {
                out.add(new Difference(type, instance, vcpu, fa.path(), fa.text(), other.text()));
            }
        }
        fb.values().forEach(f -> out.add(new Difference(type, instance, vcpu, f.path(), null, f.text())));
    }

    /** Runs of differing bytes, each one difference; bytes one side lacks are one run with that side absent. */
    private static void bytes(String type, int instance, boolean vcpu, String path, byte[] a, byte[] b, List<Difference> out) {
        int common = Math.min(a.length, b.length);
        int i = 0;
        while (i < common) {
            if (a[i] == b[i]) {
                i++;
                continue;
            }
            int from = i;
            while (i < common && a[i] != b[i]) {
                i++;
            }
            out.add(new Difference(type, instance, vcpu, range(path, from, i), hex(a, from, i), hex(b, from, i)));
        }
        if (a.length != b.length) {
            int to = Math.max(a.length, b.length);
            out.add(new Difference(type, instance, vcpu, range(path, common, to),
                    a.length > common ? hex(a, common, to) : null, b.length > common ? hex(b, common, to) : null));
        }
    }

    private static String range(String path, int from, int to) {
        return path + (to - from == 1 ? "[" + from + "]" : "[" + from + ".." + (to - 1) + "]");
    }

    private static String hex(byte[] bytes, int from, int to) {
        return Values.toHex(Arrays.copyOfRange(bytes, from, to));
    }
}
