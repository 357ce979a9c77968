package org.xenfork.hvmcontext;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * HVM save streams written by hand for tests, with {@link ByteBuffer} and the
 * numbers of Xen's xen/include/public/hvm/save.h and arch-x86/hvm/save.h, so that
 * they share no code with the codec.
 */
final class Streams {
    static final int HEADER = 1;
    static final int CPU = 2;
    static final int PIC = 3;
    static final int LAPIC = 5;
    static final int LAPIC_REGS = 6;
    static final int RTC = 11;
    static final int MTRR = 14;
    static final int CPU_XSAVE = 16;
    static final int CPU_MSR = 20;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private Streams() {
    }

    /** A stream that starts with a valid HEADER (magic 0x54381286, version 1). */
    static Streams withHeader() {
        return new Streams().record(HEADER, 0, header(0x54381286L, 1));
    }

    static Streams empty() {
        return new Streams();
    }

    static byte[] header(long magic, long version) {
        ByteBuffer b = le(24);
        b.putInt((int) magic).putInt((int) version).putLong(-1L).putInt(0x00800f12).putInt(2_096_025);
        return b.array();
    }

    Streams record(int typecode, int instance, byte[] body) {
        return descriptor(typecode, instance, body.length).bytes(body);
    }

    Streams descriptor(int typecode, int instance, long length) {
        return bytes(le(8).putShort((short) typecode).putShort((short) instance).putInt((int) length).array());
    }

    Streams end() {
        return descriptor(0, 0, 0);
    }

    Streams bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    byte[] toBytes() {
        return out.toByteArray();
    }

    /** A CPU_MSR body: count, 4 bytes of padding, then (index, _rsvd, val) per entry. */
    static byte[] msrs(long count, long... indexValuePairs) {
        ByteBuffer b = le(8 + 16 * (indexValuePairs.length / 2));
        b.putInt((int) count).putInt(0);
        for (int i = 0; i < indexValuePairs.length; i += 2) {
            b.putInt((int) indexValuePairs[i]).putInt(0).putLong(indexValuePairs[i + 1]);
        }
        return b.array();
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
