package org.xenfork.abi;

import java.util.ArrayList;
import java.util.List;

/**
 * Places the members of one struct or union by the x86-64 SysV rules, as gcc
 * does: each member at the next multiple of its alignment; a bitfield in the
 * storage unit of its declared type unless it would straddle that unit's
 * boundary; the record's size rounded up to its largest alignment.
 */
final class RecordBuilder {
    private final String tag;
    private final boolean union;
    private final List<CType.Member> members = new ArrayList<>();
    private long bitPosition; // next free bit (structs only)
    private int size;
    private int align = 1;

    RecordBuilder(String tag, boolean union) {
        this.tag = tag;
        this.union = union;
    }

    void add(String name, CType type) {
        if (type instanceof CType.ArrayOf array && array.flexible() && union) {
            throw new IllegalArgumentException("flexible array member " + name + " in a union");
        }
        int offset = union ? 0 : alignUp(bytesUsed(), type.align());
        members.add(new CType.Member(name, type, offset, 0, 0));
        align = Math.max(align, type.align());
        int end = offset + type.size();
        size = Math.max(size, end);
        if (!union) {
            bitPosition = (long) end * 8;
        }
    }

    void addBitfield(String name, CType type, int width) {
        if (!(type instanceof CType.Scalar scalar) || scalar.pointer()) {
            throw new IllegalArgumentException("bitfield " + name + " must have an integer type");
        }
        int unitBits = scalar.size() * 8;
        if (width <= 0 || width > unitBits) {
            throw new IllegalArgumentException("bitfield " + name + " width " + width + " does not fit " + scalar.name());
        }
        long start = union ? 0 : bitPosition;
        if (start / unitBits != (start + width - 1) / unitBits) {
            start = alignUp(start, unitBits);
        }
        members.add(new CType.Member(name, type, (int) (start / 8), (int) start, width));
        align = Math.max(align, scalar.align());
        long endBits = start + width;
        size = Math.max(size, (int) ((endBits + 7) / 8));
        if (!union) {
            bitPosition = endBits;
        }
    }

    CType.Record build() {
        int total = alignUp(size, align);
        return new CType.Record(tag, union, List.copyOf(members), total, align);
    }

    private int bytesUsed() {
        return (int) ((bitPosition + 7) / 8);
    }

    private static int alignUp(int value, int alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }

    private static long alignUp(long value, long alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }
}
