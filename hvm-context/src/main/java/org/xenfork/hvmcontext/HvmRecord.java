package org.xenfork.hvmcontext;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
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
 *
 * <p>A record is a view of its context's stream (the body is {@code length} bytes
 * from {@code base} of an array nobody changes), so a million records cost no
 * million copies; {@link #body} hands out a copy.
 */
public final class HvmRecord {
    private static final Pattern ELEMENT_PATH = Pattern.compile("(\\w+)\\[(\\d{1,9})]\\.(.+)");
    /** CPU_XSAVE's byte string after the fixed part. */
    static final String EXTENDED = "save_area.extended";

    private final int typecode;
    private final int instance;
    private final byte[] bytes;
    private final int base;
    private final int length;
    private final RecordType type;

    /** The body is {@code length} bytes from {@code base} of {@code bytes}, which must never change. */
    HvmRecord(int typecode, int instance, byte[] bytes, int base, int length, RecordType type) {
        this.typecode = typecode;
        this.instance = instance;
        this.bytes = bytes;
        this.base = base;
        this.length = length;
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
        return length;
    }

    /** A copy of the body. */
    public byte[] body() {
        return Arrays.copyOfRange(bytes, base, base + length);
    }

    /** For the codec: the array the body lies in, never handed out. */
    byte[] array() {
        return bytes;
    }

    /** For the codec: where the body starts in {@link #array}. */
    int base() {
        return base;
    }

    /** Whether the two bodies hold the same bytes (no copy). */
    boolean sameBody(HvmRecord r) {
        return Arrays.equals(bytes, base, base + length, r.bytes, r.base, r.base + r.length);
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
        return type == null ? Optional.empty() : Optional.of(type.layoutFor(length));
    }

    /**
     * How many bytes of the layout the body lacks: a zero-extended record shorter
     * than its struct (the loader reads the missing fields as zero; they are not
     * decoded here, since they are not in the stream).
     */
    public int missingBytes() {
        return type == null ? 0 : Math.max(0, type.layoutFor(length).size() - length);
    }

    /**
     * Every field the body holds, in declaration order: the layout's fields that lie
     * wholly inside the body, then for CPU_MSR each {@code msr[i]} element, and for
     * CPU_XSAVE the xsave components after the fixed part as one byte string
     * ({@code save_area.extended}). An unknown type is one byte string, {@code raw}.
     */
    public List<FieldValue> fields() {
        List<FieldValue> out = new ArrayList<>();
        forEachField(out::add);
        return out;
    }

    /**
     * {@link #fields} one by one, without holding them all: a CPU_MSR record as long
     * as a stream can be has millions of fields, and a caller that prints them needs
     * only one at a time.
     */
    public void forEachField(Consumer<FieldValue> visitor) {
        if (type == null) {
            visitor.accept(new FieldValue("raw", "uint8_t[" + length + "]", 0, body()));
            return;
        }
        for (FieldPlan.Item item : FieldPlan.of(layoutOrNull())) {
            if (item.end() <= length) {
                visitor.accept(item.read("", bytes, base));
            }
        }
        int entries = entries();
        if (entries > 0) {
            List<FieldPlan.Item> element = FieldPlan.of(type.element().orElseThrow());
            for (int i = 0; i < entries; i++) {
                for (FieldPlan.Item item : element) {
                    visitor.accept(element(i, item));
                }
            }
        }
        int extended = extendedLength();
        if (extended > 0) {
            visitor.accept(new FieldValue(EXTENDED, "uint8_t[" + extended + "]", 0,
                    Arrays.copyOfRange(bytes, base + length - extended, base + length)));
        }
    }

    /** The layout, or null for an unknown type. */
    StructLayout layoutOrNull() {
        return type == null ? null : type.layoutFor(length);
    }

    /** CPU_MSR's {@code msr[]} entries in the body; 0 for other types. */
    int entries() {
        if (type == null || type.element().isEmpty()) {
            return 0;
        }
        return Math.max(0, (length - type.arrayOffset()) / type.element().get().size());
    }

    /** One item of CPU_MSR's entry {@code i} ({@code msr[i].val}). */
    FieldValue element(int i, FieldPlan.Item item) {
        return item.read(entryPrefix(i), bytes, elementBase(i));
    }

    /** Where CPU_MSR's entry {@code i} starts in {@link #array}. */
    int elementBase(int i) {
        return base + type.arrayOffset() + i * type.element().orElseThrow().size();
    }

    /** The path of CPU_MSR's entry {@code i}'s fields start with this: {@code msr[i].}. */
    static String entryPrefix(int i) {
        return "msr[" + i + "].";
    }

    /** CPU_XSAVE's bytes after the fixed part ({@link #EXTENDED}, the last of the body); 0 for other types. */
    int extendedLength() {
        if (type == null || type.rule() != RecordType.LengthRule.AT_LEAST) {
            return 0;
        }
        return Math.max(0, length - type.layoutFor(length).size());
    }

    /** The number at a leaf path ({@code rip}, {@code msr[1].val}); an IllegalArgumentException if there is none. */
    public long number(String path) {
        Target t = target(path);
        return t.leaf.read(bytes, base + t.base);
    }

    /**
     * This record with one field set: the same bytes but the field's bits, in a body
     * of its own. The message of the IllegalArgumentException for a path the record
     * does not have, or a value the field cannot hold, names the field and what it takes.
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
        byte[] edited = body();
        t.leaf.write(edited, t.base, bits);
        return new HvmRecord(typecode, instance, edited, 0, length, type);
    }

    private record Target(Leaf leaf, int base) {
    }

    /** The leaf for a path and the base (in the body) it is read from, checked to lie inside the body. */
    private Target target(String path) {
        if (type == null) {
            throw new IllegalArgumentException(name() + " has no known layout: its fields cannot be named");
        }
        Target t;
        Matcher m = ELEMENT_PATH.matcher(path);
        StructLayout layout = type.layoutFor(length);
        if (type.element().isPresent() && m.matches() && layout.field(m.group(1)).isPresent()) {
            StructLayout element = type.element().get();
            long index = Long.parseLong(m.group(2));
            int entries = entries();
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
        if (end > length) {
            throw new IllegalArgumentException(path + " lies beyond this " + length + "-byte " + name()
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
        return o instanceof HvmRecord r && typecode == r.typecode && instance == r.instance && sameBody(r);
    }

    @Override
    public int hashCode() {
        int h = typecode * 31 + instance;
        for (int i = base; i < base + length; i++) {
            h = h * 31 + bytes[i];
        }
        return h;
    }

    @Override
    public String toString() {
        return label() + " (" + length + " bytes)";
    }
}
