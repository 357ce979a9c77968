package org.xenfork.hvmcontext;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.xenfork.abi.Field;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * What a struct decodes to, in declaration order: every leaf, except that an
 * array of single bytes is one byte string (a 512-byte {@code fpu_regs} is one
 * value, not 512). Made once per layout from abi's fields and leaves.
 */
final class FieldPlan {
    private static final Pattern ELEMENT = Pattern.compile("(.*)\\[\\d+]");
    private static final Map<StructLayout, List<Item>> CACHE = new ConcurrentHashMap<>();

    private FieldPlan() {
    }

    /** A number ({@code leaf} set) or a byte string ({@code offset}, {@code size}). */
    record Item(String path, String type, Leaf leaf, int offset, int size) {
        /** The first byte past the item: a field is in a record only when the record's body reaches it. */
        int end() {
            if (leaf == null) {
                return offset + size;
            }
            return leaf.isBitfield() ? (leaf.bitOffset() + leaf.bitWidth() + 7) / 8 : leaf.offset() + leaf.size();
        }

        FieldValue read(String prefix, byte[] body, int base) {
            String p = prefix.isEmpty() ? path : prefix + path; // no new string per field of a fixed record
            if (leaf == null) {
                byte[] b = new byte[size];
                System.arraycopy(body, base + offset, b, 0, size);
                return new FieldValue(p, type, 0, b);
            }
            return new FieldValue(p, type, leaf.read(body, base), null);
        }
    }

    static List<Item> of(StructLayout layout) {
        return CACHE.computeIfAbsent(layout, FieldPlan::plan);
    }

    private static List<Item> plan(StructLayout layout) {
        Set<String> byteArrays = new HashSet<>();
        for (Field f : layout.fields()) {
            if (f.kind() == Field.Kind.ARRAY && f.size() > 0) {
                var first = layout.leaves().stream().filter(l -> l.path().equals(f.path() + "[0]")).findFirst();
                if (first.isPresent() && !first.get().isBitfield() && first.get().size() == 1) {
                    byteArrays.add(f.path());
                }
            }
        }
        List<Item> items = new ArrayList<>();
        Set<String> placed = new HashSet<>();
        for (Leaf l : layout.leaves()) {
            Matcher m = ELEMENT.matcher(l.path());
            if (m.matches() && byteArrays.contains(m.group(1))) {
                String array = m.group(1);
                if (placed.add(array)) {
                    Field f = layout.field(array).orElseThrow();
                    items.add(new Item(array, f.type(), null, f.offset(), f.size()));
                }
                continue;
            }
            items.add(new Item(l.path(), l.isBitfield() ? l.type() + ":" + l.bitWidth() : l.type(), l, 0, 0));
        }
        return List.copyOf(items);
    }
}
