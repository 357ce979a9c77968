package org.xenfork.abi;

/**
 * One row of a struct's layout, named by its C path ({@code u.createdomain.arch},
 * {@code handle}). Aggregates and whole arrays are fields too; {@link Leaf} is
 * what can hold a value.
 *
 * @param offset    byte offset from the start of the outermost struct
 * @param size      bytes (0 for a flexible array member and for a bitfield)
 * @param bitOffset for a bitfield, bits from the start of the outermost struct
 * @param bitWidth  for a bitfield, its width; 0 otherwise
 */
public record Field(String path, int offset, int size, String type, Kind kind, int bitOffset, int bitWidth) {

    /** What sort of member this is, in the words of C. */
    public enum Kind {
        SCALAR, HANDLE, BITFIELD, ARRAY, FLEXIBLE_ARRAY, STRUCT, UNION;

        /** The word used in {@code xenfork abi layout}. */
        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }
}
