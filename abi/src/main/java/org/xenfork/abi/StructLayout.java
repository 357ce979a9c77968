package org.xenfork.abi;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One struct of one Xen release, flattened: every field by its C path with its
 * offset and size, and every leaf that holds a value. Offsets come from the
 * declaration by the SysV rules ({@link RecordBuilder}), never from code.
 *
 * <pre>{@code
 * StructLayout domctl = Abi.forRelease(XenRelease.parse("4.17")).struct("xen_domctl");
 * Leaf maxVcpus = domctl.leaf("u.createdomain.max_vcpus");   // offset 44
 * }</pre>
 */
public final class StructLayout {
    private final String name;
    private final int size;
    private final int align;
    private final boolean union;
    private final List<Field> fields;
    private final List<Leaf> leaves;
    private final Map<String, Field> fieldsByPath;
    private final Map<String, Leaf> leavesByPath;
    private UnionSelector selector;

    private StructLayout(String name, CType.Record record) {
        this.name = name;
        this.size = record.size();
        this.align = record.align();
        this.union = record.union();
        List<Field> f = new ArrayList<>();
        List<Leaf> l = new ArrayList<>();
        flatten(record, "", 0, f, l);
        this.fields = Collections.unmodifiableList(f);
        this.leaves = Collections.unmodifiableList(l);
        Map<String, Field> fp = new LinkedHashMap<>();
        f.forEach(x -> fp.put(x.path(), x));
        Map<String, Leaf> lp = new LinkedHashMap<>();
        l.forEach(x -> lp.put(x.path(), x));
        this.fieldsByPath = Collections.unmodifiableMap(fp);
        this.leavesByPath = Collections.unmodifiableMap(lp);
    }

    static StructLayout of(String name, CType.Record record) {
        return new StructLayout(name, record);
    }

    void attach(UnionSelector unionSelector) {
        this.selector = unionSelector;
    }

    /** Xen's struct tag, e.g. {@code xen_domctl}. */
    public String name() {
        return name;
    }

    /** {@code sizeof(struct name)} on x86-64. */
    public int size() {
        return size;
    }

    public int align() {
        return align;
    }

    /** True for a union declared at top level ({@code union vioapic_redir_entry}): C names it {@code union tag}. */
    public boolean isUnion() {
        return union;
    }

    /** Every field in declaration order, aggregates before their members. */
    public List<Field> fields() {
        return fields;
    }

    /** Every value-holding field in declaration order, array elements expanded. */
    public List<Leaf> leaves() {
        return leaves;
    }

    public Optional<Field> field(String path) {
        return Optional.ofNullable(fieldsByPath.get(path));
    }

    /**
     * The leaf at a C path such as {@code u.createdomain.handle[3]}, or an
     * {@link AbiException} that names the nearest valid paths.
     */
    public Leaf leaf(String path) {
        Leaf leaf = leavesByPath.get(path);
        if (leaf != null) {
            return leaf;
        }
        Field field = fieldsByPath.get(path);
        if (field != null) {
            if (field.kind() == Field.Kind.FLEXIBLE_ARRAY) {
                throw new AbiException(path + " in " + name + " is " + describe(field));
            }
            throw new AbiException(path + " in " + name + " is " + describe(field)
                    + "; give one of its values: " + String.join(", ", leafChoicesUnder(path)));
        }
        throw new AbiException("no field " + Values.quoted(path) + " in " + name + NameSuggestions.hint(path, pathChoices()));
    }

    /** The union whose member follows a discriminator field ({@code cmd}, {@code op}), if any. */
    public Optional<UnionSelector> selector() {
        return Optional.ofNullable(selector);
    }

    /** Paths a user may write: leaves, with arrays shown once as {@code name[0..n-1]}. */
    List<String> pathChoices() {
        List<String> out = new ArrayList<>();
        for (Field f : fields) {
            if (f.kind() == Field.Kind.ARRAY) {
                int count = countElements(f.path());
                out.add(f.path() + "[0.." + (count - 1) + "]");
            } else if (leavesByPath.containsKey(f.path())) {
                out.add(f.path());
            }
        }
        return out;
    }

    private List<String> leafChoicesUnder(String path) {
        Field f = fieldsByPath.get(path);
        if (f.kind() == Field.Kind.ARRAY) {
            return List.of(path + "[0] .. " + path + "[" + (countElements(path) - 1) + "]");
        }
        List<String> out = new ArrayList<>();
        for (String p : pathChoices()) {
            if (p.startsWith(path + ".") || p.startsWith(path + "[")) {
                out.add(p);
            }
        }
        return out.size() > 12 ? List.of(String.join(", ", out.subList(0, 12)), "…") : out;
    }

    private int countElements(String arrayPath) {
        int n = 0;
        while (leavesByPath.containsKey(arrayPath + "[" + n + "]")
                || fieldsByPath.containsKey(arrayPath + "[" + n + "]")
                || hasPrefix(arrayPath + "[" + n + "].")) {
            n++;
        }
        return n;
    }

    private boolean hasPrefix(String prefix) {
        return leavesByPath.keySet().stream().anyMatch(p -> p.startsWith(prefix));
    }

    private static String describe(Field f) {
        return switch (f.kind()) {
            case ARRAY -> "an array (" + f.type() + ")";
            case FLEXIBLE_ARRAY -> "a flexible array member (" + f.type() + "), which has no fixed bytes to set";
            case STRUCT, UNION -> "an aggregate (" + f.type() + ")";
            default -> f.type();
        };
    }

    private static void flatten(CType.Record record, String prefix, int base, List<Field> fields, List<Leaf> leaves) {
        for (CType.Member m : record.members()) {
            int offset = base + m.offset();
            if (m.name() == null) {
                // C11 anonymous struct/union: its members are named as members of this record.
                flatten((CType.Record) m.type(), prefix, offset, fields, leaves);
                continue;
            }
            String path = prefix.isEmpty() ? m.name() : prefix + "." + m.name();
            if (m.bitfield()) {
                CType.Scalar t = (CType.Scalar) m.type();
                int bit = base * 8 + m.bitOffset();
                fields.add(new Field(path, bit / 8, 0, t.name(), Field.Kind.BITFIELD, bit, m.bitWidth()));
                leaves.add(Leaf.bitfield(path, t, bit, m.bitWidth()));
            } else {
                place(path, m.type(), offset, fields, leaves, true);
            }
        }
    }

    private static void place(String path, CType type, int offset, List<Field> fields, List<Leaf> leaves, boolean asField) {
        if (type instanceof CType.Scalar s) {
            if (asField) {
                Field.Kind kind = s.pointer() ? Field.Kind.HANDLE : Field.Kind.SCALAR;
                fields.add(new Field(path, offset, s.size(), s.name(), kind, offset * 8, 0));
            }
            leaves.add(Leaf.whole(path, offset, s));
        } else if (type instanceof CType.ArrayOf a) {
            if (asField) {
                Field.Kind kind = a.flexible() ? Field.Kind.FLEXIBLE_ARRAY : Field.Kind.ARRAY;
                fields.add(new Field(path, offset, a.size(), a.name(), kind, offset * 8, 0));
            }
            for (int i = 0; i < Math.max(a.length(), 0); i++) {
                place(path + "[" + i + "]", a.element(), offset + i * a.element().size(), fields, leaves, false);
            }
        } else {
            CType.Record r = (CType.Record) type;
            if (asField) {
                Field.Kind kind = r.union() ? Field.Kind.UNION : Field.Kind.STRUCT;
                fields.add(new Field(path, offset, r.size(), r.name(), kind, offset * 8, 0));
            }
            flatten(r, path, offset, asField ? fields : new ArrayList<>(), leaves);
        }
    }

    @Override
    public String toString() {
        return (union ? "union " : "struct ") + name + " (" + size + " bytes)";
    }
}
