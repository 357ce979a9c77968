package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.RecordType.LengthRule;

/**
 * The codec's two round trips, over streams QuickTheories generates (fixed
 * seed, so a failure reproduces) for every supported release: records of every
 * type at every length its loader rule allows, records of typecodes Xen has no
 * type for, END descriptors with any instance and length, bytes after END.
 * <ul>
 *   <li>serialise(parse(b)) = b, and parse reads the records b was written with
 *       (b is written by {@link Streams}, which shares no code with the codec);</li>
 *   <li>parse(serialise(x)) = x for contexts built record by record and then edited.</li>
 * </ul>
 */
class HvmContextPropertiesTest {
    private static final long SEED = 0x5EED_4717L;
    private static final int EXAMPLES = 1000;
    /** Bounds the time a failure spends shrinking streams of several kilobytes. */
    private static final int SHRINK_CYCLES = 200;
    private static final int UNKNOWN = -1;

    /** One generated record. */
    record Rec(int typecode, int instance, byte[] body) {
        @Override
        public String toString() {
            return typecode + "/" + instance + ":" + (body.length > 24 ? body.length + " bytes" : Values.toHex(body));
        }
    }

    /** A generated stream: HEADER body, the records after it, END's instance and length, bytes after END. */
    record Model(XenRelease release, byte[] header, List<Rec> records, int endInstance, long endLength, byte[] trailing) {
        byte[] bytes() {
            Streams s = Streams.empty().record(Streams.HEADER, 0, header);
            records.forEach(r -> s.record(r.typecode(), r.instance(), r.body()));
            return s.descriptor(0, endInstance, endLength).bytes(trailing).toBytes();
        }

        HvmContext build() throws HvmContextException {
            HvmContext.Builder b = HvmContext.builder(release).record(Streams.HEADER, 0, header);
            records.forEach(r -> b.record(r.typecode(), r.instance(), r.body()));
            return b.end(endInstance, endLength).trailing(trailing).build();
        }

        @Override
        public String toString() {
            return "Xen " + release + " " + records + " END(" + endInstance + ", " + endLength + ") +"
                    + trailing.length + " bytes";
        }
    }

    @Test
    void serialiseGivesBackTheBytesParseRead() {
        qt().withFixedSeed(SEED).withExamples(EXAMPLES).withShrinkCycles(SHRINK_CYCLES).forAll(models()).checkAssert(m -> {
            byte[] bytes = m.bytes();
            HvmContext ctx = parse(bytes, m.release());
            assertThat(ctx.serialise()).isEqualTo(bytes);
            assertThat(ctx.records()).hasSize(m.records().size() + 1);
            HvmStreamIndex ix = index(bytes, m.release());
            for (int i = 0; i < m.records().size(); i++) {
                Rec want = m.records().get(i);
                HvmRecord got = ctx.records().get(i + 1);
                assertThat(got.typecode()).isEqualTo(want.typecode());
                assertThat(got.instance()).isEqualTo(want.instance());
                assertThat(got.body()).isEqualTo(want.body());
                assertThat(ix.bodyOffset(i + 1)).isEqualTo(ctx.offsetOf(i + 1) + 8);
                assertThat(ix.find(want.typecode(), want.instance())).isLessThanOrEqualTo(i + 1);
                got.fields(); // every accepted record decodes
            }
            assertThat(ctx.endInstance()).isEqualTo(m.endInstance());
            assertThat(ctx.endLength()).isEqualTo(m.endLength());
            assertThat(ctx.trailing()).isEqualTo(m.trailing());
        });
    }

    @Test
    void parseGivesBackTheContextSerialiseWrote() {
        qt().withFixedSeed(SEED).withExamples(EXAMPLES).withShrinkCycles(SHRINK_CYCLES)
                .forAll(models(), Generate.range(0, 1 << 20), Generate.longRange(Long.MIN_VALUE, Long.MAX_VALUE))
                .checkAssert((m, pick, value) -> {
                    HvmContext x = edited(build(m), pick, value);
                    HvmContext back = parse(x.serialise(), m.release());
                    assertThat(back).isEqualTo(x);
                    assertThat(back.serialise()).isEqualTo(x.serialise());
                });
    }

    /** The context with one number field of one typed record set to {@code value} (masked to fit), when Xen's limits allow it. */
    private static HvmContext edited(HvmContext x, int pick, long value) {
        List<Integer> typed = new ArrayList<>();
        for (int i = 0; i < x.records().size(); i++) {
            if (x.records().get(i).type().isPresent()) {
                typed.add(i);
            }
        }
        int index = typed.get(pick % typed.size()); // HEADER at least
        HvmRecord r = x.records().get(index);
        List<String> numbers = r.fields().stream().filter(f -> !f.isBytes()).map(FieldValue::path).toList();
        if (numbers.isEmpty()) {
            return x;
        }
        String path = numbers.get((pick >>> 8) % numbers.size());
        Leaf leaf = path.startsWith("msr[")
                ? r.type().orElseThrow().element().orElseThrow().leaf(path.substring(path.indexOf('.') + 1))
                : r.layout().orElseThrow().leaf(path);
        long bits = value & leaf.mask();
        try {
            HvmContext y = x.withField(index, path, new BigInteger(Long.toUnsignedString(bits)));
            assertThat(y.records().get(index).number(path)).as(path).isEqualTo(bits);
            return y;
        } catch (HvmContextException e) {
            assertThat(e.getMessage()).as("only Xen's limits refuse a value that fits").containsAnyOf("Xen", "must be 0");
            return x;
        }
    }

    // ---- generators -------------------------------------------------------------------------------

    static Gen<Model> models() {
        return Generate.pick(XenRelease.SUPPORTED).flatMap(release -> {
            RecordTypes types = RecordTypes.forRelease(release);
            Gen<List<Rec>> records = org.quicktheories.generators.SourceDSL.lists().of(record(types)).ofSizeBetween(0, 12);
            Gen<byte[]> header = bytes(24).map(h -> {
                byte[] valid = Streams.header(0x54381286L, 1);
                System.arraycopy(h, 8, valid, 8, 16); // changeset, cpuid, gtsc_khz: any
                return valid;
            });
            Gen<Integer> endInstance = Generate.range(0, 0xffff).mix(Generate.constant(0), 70);
            Gen<Long> endLength = Generate.longRange(0, 0xffff_ffffL).mix(Generate.constant(0L), 70);
            Gen<byte[]> trailing = Generate.range(0, 40).flatMap(HvmContextPropertiesTest::bytes)
                    .mix(Generate.constant(new byte[0]), 70);
            return header.zip(records, endInstance, endLength, trailing,
                    (h, r, ei, el, t) -> new Model(release, h, r, ei, el, t));
        });
    }

    /** A record of a known type at a length its rule allows, or of a typecode Xen has no type for. */
    private static Gen<Rec> record(RecordTypes types) {
        List<RecordType> known = types.all().stream()
                .filter(t -> t.rule() != LengthRule.TERMINATOR && t != types.header()).toList();
        List<Integer> choices = new ArrayList<>();
        known.forEach(t -> choices.add(t.code()));
        choices.add(UNKNOWN);
        Gen<Integer> instance = Generate.range(0, 0xffff).mix(Generate.range(0, 3), 80);
        return Generate.pick(choices).flatMap(code -> {
            if (code == UNKNOWN) {
                return Generate.range(types.all().size(), 0xffff).zip(instance, Generate.range(0, 64).flatMap(HvmContextPropertiesTest::bytes),
                        Rec::new);
            }
            RecordType t = types.byCode(code).orElseThrow();
            return instance.zip(body(t), (i, b) -> new Rec(code, i, b));
        });
    }

    private static Gen<byte[]> body(RecordType t) {
        int size = t.length();
        return switch (t.rule()) {
            case EXACT -> bytes(size);
            case ZERO_EXTEND -> Generate.range(0, size).mix(Generate.constant(size), 60).flatMap(HvmContextPropertiesTest::bytes);
            case AT_LEAST -> Generate.range(size, size + 300).flatMap(HvmContextPropertiesTest::bytes);
            case COUNTED -> Generate.range(1, 6).flatMap(n -> bytes(8 + 16 * n).map(b -> {
                Streams.le(4).putInt(n).flip().get(b, 0, 4);
                return b;
            }));
            case TERMINATOR -> Generate.constant(new byte[0]);
        };
    }

    private static Gen<byte[]> bytes(int length) {
        return Generate.byteArrays(Generate.constant(length), Generate.bytes(Byte.MIN_VALUE, Byte.MAX_VALUE, (byte) 0));
    }

    private static HvmContext parse(byte[] bytes, XenRelease release) {
        try {
            return HvmContext.parse(bytes, release);
        } catch (HvmContextException e) {
            throw new AssertionError("a valid stream was refused: " + e.getMessage(), e);
        }
    }

    private static HvmStreamIndex index(byte[] bytes, XenRelease release) {
        try {
            return HvmStreamIndex.of(bytes, release);
        } catch (HvmContextException e) {
            throw new AssertionError("a valid stream was refused: " + e.getMessage(), e);
        }
    }

    private static HvmContext build(Model m) {
        try {
            return m.build();
        } catch (HvmContextException e) {
            throw new AssertionError("a valid context was refused: " + e.getMessage(), e);
        }
    }
}
