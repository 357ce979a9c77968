package org.xenfork.abi;

import java.util.List;

/**
 * A C type as the x86-64 SysV ABI lays it out: size and alignment in bytes.
 * The declaration parser builds these from a release's {@code .abi} file;
 * {@link StructLayout} flattens them into named fields.
 */
sealed interface CType permits CType.Scalar, CType.ArrayOf, CType.Record {

    /** The name a C programmer would write, e.g. {@code domid_t}, {@code uint16_t[3]}. */
    String name();

    int size();

    int align();

    /**
     * An integer or pointer-sized value. {@code pointer} marks guest handles
     * ({@code XEN_GUEST_HANDLE_64(T)}), which the tools see as a plain 8-byte pointer.
     */
    record Scalar(String name, int size, boolean signed, boolean pointer) implements CType {
        @Override
        public int align() {
            return size;
        }

        Scalar renamed(String newName) {
            return new Scalar(newName, size, signed, pointer);
        }
    }

    /** {@code T name[length]}; {@code length == FLEXIBLE} for a C99 flexible array member. */
    record ArrayOf(String name, CType element, int length) implements CType {
        static final int FLEXIBLE = -1;

        static ArrayOf of(CType element, int length) {
            String dims = length == FLEXIBLE ? "[]" : "[" + length + "]";
            return new ArrayOf(element.name() + dims, element, length);
        }

        boolean flexible() {
            return length == FLEXIBLE;
        }

        @Override
        public int size() {
            return flexible() ? 0 : element.size() * length;
        }

        @Override
        public int align() {
            return element.align();
        }

        ArrayOf renamed(String newName) {
            return new ArrayOf(newName, element, length);
        }
    }

    /**
     * A struct or union with its members already placed. {@code tag} is null for
     * an anonymous one.
     */
    record Record(String tag, boolean union, List<Member> members, int size, int align) implements CType {
        @Override
        public String name() {
            return (union ? "union " : "struct ") + (tag == null ? "<anon>" : tag);
        }
    }

    /**
     * One member of a record. {@code name} is null for an anonymous struct or union
     * whose members belong to the enclosing record (C11). For a bitfield,
     * {@code bitWidth > 0} and {@code bitOffset} counts bits from the record's start;
     * otherwise {@code offset} is its byte offset.
     */
    record Member(String name, CType type, int offset, int bitOffset, int bitWidth) {
        boolean bitfield() {
            return bitWidth > 0;
        }
    }
}
