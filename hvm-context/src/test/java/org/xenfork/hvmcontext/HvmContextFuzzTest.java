package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.HvmSamples;

/**
 * At least 100,000 random and mutated streams (mutations of the real samples
 * and of a synthetic stream with every variable-length and unknown record:
 * truncation, bit flips, length fields set huge, "negative", odd or off by a
 * few, typecodes and instances changed, records reordered, duplicated or
 * dropped, bytes inserted or appended, and plain random bytes). Each is parsed
 * by a random release's rules, and the only outcomes allowed are: accepted,
 * then serialised to exactly the input, decoded and diffed without error; or
 * refused with an {@link HvmContextException} that names an offset inside the
 * input. Anything else (another exception, an out-of-memory, a hang past the
 * timeout) fails, with the seed and the input. Fixed seed; {@code -Dxenfork.fuzz.seed}
 * and {@code -Dxenfork.fuzz.inputs} change it.
 */
class HvmContextFuzzTest {
    private static final long SEED = Long.getLong("xenfork.fuzz.seed", 0xF022_4717L);
    private static final int INPUTS = Integer.getInteger("xenfork.fuzz.inputs", 120_000);
    private static final List<XenRelease> RELEASES = XenRelease.SUPPORTED;

    /** A stream made by hand with what the samples lack: CPU_XSAVE, CPU_MSR, VIRIDIAN, an unknown type, bytes after END. */
    private static byte[] synthetic() {
        byte[] xsave = new byte[832];
        new Random(1).nextBytes(xsave);
        return Streams.withHeader()
                .record(Streams.CPU, 1, new byte[1032])
                .record(Streams.LAPIC, 1, new byte[24])
                .record(15, 0, new byte[32])
                .record(Streams.CPU_XSAVE, 1, xsave)
                .record(17, 1, new byte[216])
                .record(Streams.CPU_MSR, 1, Streams.msrs(2, 0x48, 1, 0xda0, 3))
                .record(30, 0, new byte[] {1, 2, 3})
                .end().bytes(new byte[] {4, 5}).toBytes();
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void randomAndMutatedStreamsParseLosslesslyOrFailCleanly() throws HvmContextException {
        List<byte[]> seeds = List.of(HvmSamples.bytes(HvmSamples.HVM), HvmSamples.bytes(HvmSamples.PVH), synthetic());
        List<HvmContext> seedContexts = new ArrayList<>();
        for (byte[] s : seeds) {
            seedContexts.add(HvmContext.parse(s, XenRelease.parse("4.17")));
        }
        Map<String, BiFunction<byte[], Random, byte[]>> mutations = mutations();
        List<String> names = new ArrayList<>(mutations.keySet());
        Map<String, int[]> outcomes = new LinkedHashMap<>();
        names.forEach(n -> outcomes.put(n, new int[2]));
        Random random = new Random(SEED);
        long started = System.nanoTime();
        for (int n = 0; n < INPUTS; n++) {
            int s = random.nextInt(seeds.size());
            String mutation = names.get(random.nextInt(names.size()));
            byte[] input = mutations.get(mutation).apply(seeds.get(s).clone(), random);
            XenRelease release = RELEASES.get(random.nextInt(RELEASES.size()));
            try {
                HvmContext ctx = HvmContext.parse(input, release);
                if (!Arrays.equals(ctx.serialise(), input)) {
                    fail(report(n, mutation, release, input, "accepted, but serialised to other bytes"));
                }
                for (HvmRecord r : ctx.records()) {
                    r.fields();
                }
                HvmDiff.between(seedContexts.get(s), ctx);
                outcomes.get(mutation)[0]++;
            } catch (HvmContextException e) {
                long at = e.offset().orElse(-1);
                if (at < 0 || at > input.length || !e.getMessage().matches("(?s)(offset|record \\d+ \\(\\w+, instance \\d+\\) at offset) 0x.*")) {
                    fail(report(n, mutation, release, input, "refused without naming an offset inside the input: " + e.getMessage()));
                }
                outcomes.get(mutation)[1]++;
            } catch (RuntimeException | Error e) {
                throw new AssertionError(report(n, mutation, release, input, "threw " + e), e);
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        int accepted = outcomes.values().stream().mapToInt(o -> o[0]).sum();
        int refused = outcomes.values().stream().mapToInt(o -> o[1]).sum();
        StringBuilder table = new StringBuilder();
        outcomes.forEach((k, v) -> table.append(String.format("  %-22s accepted %6d  refused %6d%n", k, v[0], v[1])));
        System.out.printf("HvmContextFuzzTest: %d inputs in %d ms (seed %#x): %d accepted and round-tripped, %d refused cleanly%n%s",
                INPUTS, ms, SEED, accepted, refused, table);
        assertThat(accepted + refused).isEqualTo(INPUTS).isGreaterThanOrEqualTo(Math.min(INPUTS, 100_000));
        assertThat(accepted).as("inputs accepted").isGreaterThan(INPUTS / 10);
        assertThat(refused).as("inputs refused").isGreaterThan(INPUTS / 10);
    }

    private static String report(int n, String mutation, XenRelease release, byte[] input, String what) {
        String hex = Values.toHex(input);
        return "input " + n + " (seed " + Long.toHexString(SEED) + ", mutation " + mutation + ", Xen " + release + ", "
                + input.length + " bytes): " + what + "\n" + (hex.length() > 20_000 ? hex.substring(0, 20_000) + "…" : hex);
    }

    // ---- mutations ------------------------------------------------------------------------------

    private static Map<String, BiFunction<byte[], Random, byte[]>> mutations() {
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
}
