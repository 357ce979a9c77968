package org.xenfork.hvmcontext;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * One record of an HVM context: its descriptor's typecode and instance, and its
 * body, exactly the bytes that were in the stream. Decoding goes through the
 * layout of its type ({@link RecordType#layoutFor}); a record of a typecode Xen
 * has no type for is raw bytes. Immutable: an edit makes a new record.
 */
public final class HvmRecord {
    private static final Pattern ELEMENT_PATH = Pattern.compile("(\\w+)\\[(\\d{1,9})]\\.(.+)");

    private final int typecode;
    private final int instance;
    private final byte[] body;
    private final RecordType type;

    HvmRecord(int typecode, int instance, byte[] body, RecordType type) {
        this.typecode = typecode;
        this.instance = instance;
        this.body = body;
        this.type = type;
    }

    public int typecode() {
        return typecode;
    }

    public int instance() {
        return instance;
    }

    /** The body's length, as its descriptor says. */
    public int length() {
        return body.length;
    }

    /** A copy of the body. */
    public byte[] body() {
        return body.clone();
    }

    /** For the codec: the body itself, never handed out. */
    byte[] bodyRef() {
        return body;
    }

    /** The record's type, or empty for a typecode Xen has none for. */
    public Optional<RecordType> type() {
        return Optional.ofNullable(type);
    }

    /** Xen's name of the type ({@code CPU}), or {@code TYPE_<code>}. */
    public String name() {
        return type == null ? "TYPE_" + typecode : type.name();
    }

    /** {@code CPU vcpu 0}, {@code PIC instance 1}, {@code IOAPIC instance 0}. */
    public String label() {
        return name() + (type != null && type.scope() == RecordType.Scope.VCPU ? " vcpu " : " instance ") + instance;
    }

    public boolean isPerVcpu() {
        return type != null && type.scope() == RecordType.Scope.VCPU;
    }

    /** The layout the body is read with, or empty for an unknown type. */
    public Optional<StructLayout> layout() {
        return type == null ? Optional.empty() : Optional.of(type.layoutFor(body.length));
    }

    /**
     * How many bytes of the layout the body lacks: a zero-extended record shorter
     * than its struct (the loader reads the missing fields as zero; they are not
     * decoded here, since they are not in the stream).
     */
    public int missingBytes() {
        return type == null ? 0 : Math.max(0, type.layoutFor(body.length).size() - body.length);
    }

    /**
     * Every field the body holds, in declaration order: the layout's fields that lie
     * wholly inside the body, then for CPU_MSR each {@code msr[i]} element, and for
     * CPU_XSAVE the xsave components after the fixed part as one byte string
     * ({@code save_area.extended}). An unknown type is one byte string, {@code raw}.
     */
    public List<FieldValue> fields() {
        List<FieldValue> out = new ArrayList<>();
        if (type == null) {
            out.add(new FieldValue("raw", "uint8_t[" + body.length + "]", 0, body.clone()));
            return out;
        }
        StructLayout layout = type.layoutFor(body.length);
        for (FieldPlan.Item item : FieldPlan.of(layout)) {
            if (item.end() <= body.length) {
                out.add(item.read("", body, 0));
            }
        }
        if (type.element().isPresent()) {
            StructLayout element = type.element().get();
            for (int at = type.arrayOffset(), i = 0; at + element.size() <= body.length; at += element.size(), i++) {
                for (FieldPlan.Item item : FieldPlan.of(element)) {
                    out.add(item.read("msr[" + i + "].", body, at));
                }
            }
        } else if (type.rule() == RecordType.LengthRule.AT_LEAST && body.length > layout.size()) {
            out.add(new FieldValue("save_area.extended", "uint8_t[" + (body.length - layout.size()) + "]", 0,
                    Arrays.copyOfRange(body, layout.size(), body.length)));
        }
        return out;
    }

    /** The number at a leaf path ({@code rip}, {@code msr[1].val}); an IllegalArgumentException if there is none. */
    public long number(String path) {
        Target t = target(path);
        return t.leaf.read(body, t.base);
    }

    /**
     * This record with one field set: the same bytes but the field's bits. The
     * message of the IllegalArgumentException for a path the record does not have,
     * or a value the field cannot hold, names the field and what it takes.
     */
    HvmRecord with(String path, BigInteger value) {
        Target t = target(path);
        long bits;
        try {
            bits = t.leaf.bitsFor(value);
        } catch (AbiException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
        String problem = EditRules.problem(name(), path, t.leaf, bits);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        byte[] edited = body.clone();
        t.leaf.write(edited, t.base, bits);
        return new HvmRecord(typecode, instance, edited, type);
    }

    private record Target(Leaf leaf, int base) {
    }

    /** The leaf for a path and the base it is read from, checked to lie inside the body. */
    private Target target(String path) {
        if (type == null) {
            throw new IllegalArgumentException(name() + " has no known layout: its fields cannot be named");
        }
        Target t;
        Matcher m = ELEMENT_PATH.matcher(path);
        StructLayout layout = type.layoutFor(body.length);
        if (type.element().isPresent() && m.matches() && layout.field(m.group(1)).isPresent()) {
            StructLayout element = type.element().get();
            long index = Long.parseLong(m.group(2));
            int entries = (body.length - type.arrayOffset()) / element.size();
            if (index >= entries) {
                throw new IllegalArgumentException(m.group(1) + "[" + index + "]: this " + name() + " record has "
                        + entries + " entries (0 .. " + (entries - 1) + ")");
            }
            t = new Target(leaf(element, m.group(3)), type.arrayOffset() + (int) index * element.size());
        } else {
            t = new Target(leaf(layout, path), 0);
        }
        Leaf l = t.leaf;
        int end = t.base + (l.isBitfield() ? (l.bitOffset() + l.bitWidth() + 7) / 8 : l.offset() + l.size());
        if (end > body.length) {
            throw new IllegalArgumentException(path + " lies beyond this " + body.length + "-byte " + name()
                    + " record (it ends at byte " + end + " of " + layout.name() + "; the loader would read it as zero)");
        }
        return t;
    }

    private static Leaf leaf(StructLayout layout, String path) {
        try {
            return layout.leaf(path);
        } catch (AbiException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HvmRecord r && typecode == r.typecode && instance == r.instance && Arrays.equals(body, r.body);
    }

    @Override
    public int hashCode() {
        return (typecode * 31 + instance) * 31 + Arrays.hashCode(body);
    }

    @Override
    public String toString() {
        return label() + " (" + body.length + " bytes)";
    }
}
