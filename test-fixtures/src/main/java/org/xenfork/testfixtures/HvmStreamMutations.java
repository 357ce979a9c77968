package org.xenfork.testfixtures;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * How the HVM stream fuzzers (hvm-context's HvmContextFuzzTest, cli's HvmContextViewFuzzTest) make
 * their inputs: the streams they start from ({@link #seeds}) and the mutations of them, written with
 * {@link ByteBuffer} and Xen's numbers (xen/include/public/hvm/save.h), sharing no code with the codec.
 * Truncation, bit flips, length fields set huge, "negative", odd or off by a few, typecodes and
 * instances changed, records reordered, duplicated or dropped, bytes inserted or appended, a long tail
 * after END, and plain random bytes.
 */
public final class HvmStreamMutations {
    private HvmStreamMutations() {
    }

    /**
     * The two real samples, and a stream made by hand with what they lack: CPU_XSAVE, CPU_MSR, the Viridian
     * records, an unknown typecode (30), bytes after END. Every one of them parses by Xen 4.17's rules.
     */
    public static List<byte[]> seeds() {
        return List.of(HvmSamples.bytes(HvmSamples.HVM), HvmSamples.bytes(HvmSamples.PVH), synthetic());
    }

    private static byte[] synthetic() {
        byte[] header = Arrays.copyOfRange(HvmSamples.bytes(HvmSamples.HVM), 8, 32);
        byte[] xsave = new byte[832];
        new Random(1).nextBytes(xsave);
        ByteBuffer msrs = le(8 + 2 * 16).putInt(2).putInt(0).putInt(0x48).putInt(0).putLong(1).putInt(0xda0).putInt(0).putLong(3);
        List<byte[]> records = List.of(record(1, 0, header), record(2, 1, new byte[1032]), record(5, 1, new byte[24]),
                record(15, 0, new byte[32]), record(16, 1, xsave), record(17, 1, new byte[216]), record(20, 1, msrs.array()),
                record(30, 0, new byte[] {1, 2, 3}), record(0, 0, new byte[0]));
        ByteBuffer out = le(records.stream().mapToInt(r -> r.length).sum() + 2);
        records.forEach(out::put);
        return out.put((byte) 4).put((byte) 5).array();
    }

    /** A descriptor (typecode u16, instance u16, length u32) and the body. */
    private static byte[] record(int typecode, int instance, byte[] body) {
        return le(8 + body.length).putShort((short) typecode).putShort((short) instance).putInt(body.length).put(body).array();
    }

    /**
     * Each mutation by name, in a fixed order. A mutation may change and return the array it is given; one
     * that needs the stream to frame (records to swap) throws IllegalStateException when it does not.
     */
    public static Map<String, BiFunction<byte[], Random, byte[]>> all() {
        Map<String, BiFunction<byte[], Random, byte[]>> m = new LinkedHashMap<>();
        m.put("none", (b, r) -> b);
        m.put("truncate", (b, r) -> Arrays.copyOf(b, r.nextInt(b.length + 1)));
        m.put("flip bits", (b, r) -> {
            for (int i = 1 + r.nextInt(8); i > 0; i--) {
                int bit = r.nextInt(b.length * 8);
                b[bit / 8] ^= (byte) (1 << (bit % 8));
            }
            return b;
        });
        m.put("flip a descriptor bit", (b, r) -> {
            int[] d = descriptors(b);
            int at = d[r.nextInt(d.length)] + r.nextInt(8);
            b[at] ^= (byte) (1 << r.nextInt(8));
            return b;
        });
        m.put("length huge/negative", (b, r) -> setLength(b, r, new long[] {0xffff_ffffL, 0x8000_0000L, 0xffff_fff8L,
            0x7fff_ffffL, 1L << 30}[r.nextInt(5)]));
        m.put("length odd or near", (b, r) -> {
            int[] d = descriptors(b);
            int at = d[r.nextInt(d.length)];
            long len = le(b).getInt(at + 4) & 0xffff_ffffL;
            return setLengthAt(b, at, len + new int[] {1, -1, 3, -3, 8, -8, 7}[r.nextInt(7)]);
        });
        m.put("length random", (b, r) -> setLength(b, r, r.nextInt() & 0xffff_ffffL));
        m.put("typecode", (b, r) -> {
            int[] d = descriptors(b);
            le(b).putShort(d[r.nextInt(d.length)], (short) (r.nextBoolean() ? r.nextInt(40) : r.nextInt(0x10000)));
            return b;
        });
        m.put("instance", (b, r) -> {
            int[] d = descriptors(b);
            le(b).putShort(d[r.nextInt(d.length)] + 2, (short) r.nextInt(0x10000));
            return b;
        });
        m.put("swap records", (b, r) -> {
            List<byte[]> recs = records(b);
            if (recs.size() < 2) {
                throw new IllegalStateException("nothing to swap");
            }
            int i = 1 + r.nextInt(recs.size() - 1);
            int j = r.nextInt(recs.size());
            byte[] t = recs.get(i);
            recs.set(i, recs.get(j));
            recs.set(j, t);
            return join(recs, b);
        });
        m.put("duplicate record", (b, r) -> {
            List<byte[]> recs = records(b);
            int i = r.nextInt(recs.size());
            recs.add(1 + r.nextInt(recs.size()), recs.get(i));
            return join(recs, b);
        });
        m.put("drop record", (b, r) -> {
            List<byte[]> recs = records(b);
            recs.remove(r.nextInt(recs.size()));
            return join(recs, b);
        });
        m.put("insert bytes", (b, r) -> {
            int at = r.nextInt(b.length + 1);
            byte[] extra = new byte[1 + r.nextInt(16)];
            r.nextBytes(extra);
            byte[] out = new byte[b.length + extra.length];
            System.arraycopy(b, 0, out, 0, at);
            System.arraycopy(extra, 0, out, at, extra.length);
            System.arraycopy(b, at, out, at + extra.length, b.length - at);
            return out;
        });
        m.put("append bytes", (b, r) -> {
            byte[] out = Arrays.copyOf(b, b.length + 1 + r.nextInt(64));
            for (int i = b.length; i < out.length; i++) {
                out[i] = (byte) r.nextInt();
            }
            return out;
        });
        m.put("long tail", (b, r) -> {
            byte[] out = Arrays.copyOf(b, b.length + 1 + r.nextInt(64 << 10));
            for (int i = b.length; i < out.length; i++) {
                out[i] = (byte) (r.nextInt(4) == 0 ? 0 : r.nextInt());
            }
            return out;
        });
        m.put("random bytes", (b, r) -> {
            byte[] out = new byte[r.nextInt(5000)];
            r.nextBytes(out);
            return out;
        });
        m.put("header + random", (b, r) -> {
            byte[] out = Arrays.copyOf(b, 32 + r.nextInt(3000));
            for (int i = 32; i < out.length; i++) {
                out[i] = (byte) r.nextInt();
            }
            return out;
        });
        m.put("several", (b, r) -> {
            List<String> simple = List.of("flip a descriptor bit", "length odd or near", "typecode", "swap records",
                    "drop record", "instance");
            byte[] out = b;
            for (int i = 0; i < 2 + r.nextInt(2); i++) {
                try {
                    out = m.get(simple.get(r.nextInt(simple.size()))).apply(out, r);
                } catch (IllegalStateException stop) {
                    break; // the stream no longer frames: mutate no further
                }
            }
            return out;
        });
        return m;
    }

    /** Descriptor offsets of a stream, walked by hand (HEADER to END), for mutations that need them. */
    private static int[] descriptors(byte[] b) {
        List<Integer> out = new ArrayList<>();
        ByteBuffer le = le(b);
        int off = 0;
        while (off + 8 <= b.length) {
            out.add(off);
            long len = le.getInt(off + 4) & 0xffff_ffffL;
            if (le.getShort(off) == 0 || len > b.length - off - 8) {
                break;
            }
            off += 8 + (int) len;
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("no descriptor");
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The records before END (descriptor and body) of a stream that frames; the rest is END and after. */
    private static List<byte[]> records(byte[] b) {
        int[] d = descriptors(b);
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i + 1 < d.length; i++) {
            out.add(Arrays.copyOfRange(b, d[i], d[i + 1]));
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("no records");
        }
        return out;
    }

    private static byte[] join(List<byte[]> records, byte[] original) {
        int[] d = descriptors(original);
        byte[] tail = Arrays.copyOfRange(original, d[d.length - 1], original.length);
        int size = records.stream().mapToInt(x -> x.length).sum() + tail.length;
        ByteBuffer out = ByteBuffer.allocate(size);
        records.forEach(out::put);
        return out.put(tail).array();
    }

    private static byte[] setLength(byte[] b, Random r, long length) {
        int[] d = descriptors(b);
        return setLengthAt(b, d[r.nextInt(d.length)], length);
    }

    private static byte[] setLengthAt(byte[] b, int at, long length) {
        le(b).putInt(at + 4, (int) length);
        return b;
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
