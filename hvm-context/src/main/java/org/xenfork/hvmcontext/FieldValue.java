package org.xenfork.hvmcontext;

import java.util.Arrays;
import java.util.Objects;
import org.xenfork.abi.Values;

/**
 * One decoded field of a record, named by its C path in Xen's struct
 * ({@code rip}, {@code redirtbl[3].fields.mask}, {@code msr[0].val}): a number
 * (a scalar, bitfield or array element: its stored bits), or a byte string (an
 * array of {@code uint8_t} or {@code char}, such as {@code fpu_regs} or the
 * LAPIC register page, kept whole).
 *
 * @param type  the C type, e.g. {@code uint64_t}, {@code uint8_t[512]}
 * @param bits  a number's bits (two's complement for a signed type); 0 for a byte string
 * @param bytes a byte string's bytes, or null for a number
 */
public record FieldValue(String path, String type, long bits, byte[] bytes) {

    public boolean isBytes() {
        return bytes != null;
    }

    /** {@code 0x}-hex for a number ({@code 0x7c47}); plain lowercase hex for a byte string. */
    public String text() {
        return isBytes() ? Values.toHex(bytes) : Values.hex(bits);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FieldValue f && path.equals(f.path) && type.equals(f.type) && bits == f.bits
                && Arrays.equals(bytes, f.bytes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(path, type, bits) * 31 + Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return path + "=" + text();
    }
}
