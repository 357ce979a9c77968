package org.xenfork.abi;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.math.BigInteger;
import java.nio.ByteOrder;

/**
 * A field that holds one integer: a scalar, a guest handle, a bitfield, or one
 * element of an array ({@code handle[3]}). Reads and writes little-endian bytes
 * at {@code base + offset}, so the same leaf serves an array of structs.
 *
 * @param bitOffset for a bitfield, bits from the start of the struct; else {@code offset * 8}
 * @param bitWidth  width in bits: {@code size * 8} unless a bitfield
 */
public record Leaf(String path, int offset, int size, String type, boolean signed, int bitOffset, int bitWidth) {
    private static final VarHandle LE16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    static Leaf whole(String path, int offset, CType.Scalar type) {
        return new Leaf(path, offset, type.size(), type.name(), type.signed(), offset * 8, type.size() * 8);
    }

    static Leaf bitfield(String path, CType.Scalar type, int bitOffset, int bitWidth) {
        return new Leaf(path, bitOffset / 8, 0, type.name(), type.signed(), bitOffset, bitWidth);
    }

    public boolean isBitfield() {
        return size == 0;
    }

    /** The value's bits as an unsigned number (two's complement for signed types). */
    public long read(byte[] bytes, int base) {
        int at = base + offset;
        switch (size) { // whole fields in one access: the hypercall fast path (docs/PERFORMANCE.md)
            case 1: return bytes[at] & 0xffL;
            case 2: return (short) LE16.get(bytes, at) & 0xffffL;
            case 4: return (int) LE32.get(bytes, at) & 0xffffffffL;
            case 8: return (long) LE64.get(bytes, at);
            default: return (window(bytes, base) >>> (bitOffset % 8)) & mask();
        }
    }

    /** Writes the low {@link #bitWidth} bits of {@code value}, leaving every other bit as it was. */
    public void write(byte[] bytes, int base, long value) {
        int at = base + offset;
        switch (size) {
            case 1: bytes[at] = (byte) value; return;
            case 2: LE16.set(bytes, at, (short) value); return;
            case 4: LE32.set(bytes, at, (int) value); return;
            case 8: LE64.set(bytes, at, value); return;
            default: break; // a bitfield (size 0)
        }
        int shift = bitOffset % 8;
        long fieldMask = mask() << shift;
        long raw = (window(bytes, base) & ~fieldMask) | ((value << shift) & fieldMask);
        int first = base + bitOffset / 8;
        for (int i = 0; i < spanBytes(); i++) {
            bytes[first + i] = (byte) (raw >>> (8 * i));
        }
    }

    /** The little-endian bytes that hold this leaf, as one number (at most 8: see {@link RecordBuilder}). */
    private long window(byte[] bytes, int base) {
        int first = base + bitOffset / 8;
        long raw = 0;
        for (int i = spanBytes() - 1; i >= 0; i--) {
            raw = (raw << 8) | (bytes[first + i] & 0xffL);
        }
        return raw;
    }

    private int spanBytes() {
        return (bitOffset % 8 + bitWidth + 7) / 8;
    }

    /** All ones in the low {@link #bitWidth} bits. */
    public long mask() {
        return bitWidth == 64 ? -1L : (1L << bitWidth) - 1;
    }

    /**
     * The bits to store for {@code value}, or an {@link AbiException} naming this
     * field when it does not fit: unsigned fields take 0 to 2^w-1; signed fields
     * also take negatives down to -2^(w-1).
     */
    public long bitsFor(BigInteger value) {
        BigInteger limit = BigInteger.ONE.shiftLeft(bitWidth);
        BigInteger lowest = signed ? BigInteger.ONE.shiftLeft(bitWidth - 1).negate() : BigInteger.ZERO;
        if (value.signum() < 0 && !signed) {
            throw new AbiException(path + " is " + type + " (unsigned): negative value " + value + " is not allowed");
        }
        if (value.compareTo(lowest) < 0 || value.compareTo(limit) >= 0) {
            String range = signed
                    ? lowest + " .. 0x" + limit.subtract(BigInteger.ONE).toString(16)
                    : "0 .. 0x" + limit.subtract(BigInteger.ONE).toString(16);
            throw new AbiException(path + " is " + describeWidth() + ": value " + Values.format(value)
                    + " does not fit (allowed " + range + ")");
        }
        return value.longValue() & mask();
    }

    private String describeWidth() {
        return isBitfield() ? "a " + bitWidth + "-bit bitfield of " + type : type + " (" + bitWidth + " bits)";
    }
}
