package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.arbitrary;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.longs;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;

/**
 * Properties of {@link StructCodec} over every struct of every release, with
 * values from QuickTheories (fixed seed, so a failure reproduces):
 * decode inverts encode, encode inverts decode on the bytes a view covers, and
 * values that do not fit a field are rejected naming the field.
 *
 * <p>A selector struct ({@code xen_domctl}, {@code xen_sysctl},
 * {@code xen_mem_sharing_op}) is checked once per union member, as the header
 * plus that member: decode shows exactly that view when the member is given.
 */
class RoundTripPropertiesTest {

    private static final long SEED = 0x417_5EEDL;
    /** Per view and release: some 480 views make this about 10,000 structs encoded and decoded. */
    private static final int EXAMPLES_PER_VIEW = 20;
    /** Bounds the time a failure spends shrinking lists of up to 1024 values. */
    private static final int SHRINK_CYCLES = 300;

    /** The leaves one encode/decode works on, in declaration order. */
    record View(StructLayout layout, Optional<String> member, List<Leaf> leaves) {
        @Override
        public String toString() {
            return layout.name() + member.map(m -> " member " + m).orElse("");
        }
    }

    /**
     * Random values for a random subset of a view's leaves, assigned in
     * declaration order. Leaves that share bits (members of an inner union such as
     * {@code u.debug.u.gfn}/{@code mfn}/{@code gref}, or {@code hvm_hw_cpu}'s
     * {@code pending_event} and its bitfields) may both be chosen: then the last
     * write wins, and the subset makes sure earlier members also survive sometimes.
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void decodeReturnsWhatEncodeWasGiven(String release) {
        for (View view : views(Abi.forRelease(XenRelease.parse(release)))) {
            qt().withFixedSeed(SEED).withExamples(EXAMPLES_PER_VIEW).withShrinkCycles(SHRINK_CYCLES)
                    .forAll(assignments(view))
                    .checkAssert(values -> {
                        byte[] bytes = StructCodec.encode(view.layout(), asText(values));
                        Map<String, Long> decoded = StructCodec.decode(view.layout(), bytes, view.member());

                        assertThat(decoded.keySet()).as("%s: decode shows exactly the view", view)
                                .containsExactlyElementsOf(view.leaves().stream().map(Leaf::path).toList());
                        List<String> lost = new ArrayList<>();
                        Set<Leaf> overwritten = overwrittenLater(values);
                        values.forEach((leaf, v) -> {
                            if (!overwritten.contains(leaf) && !v.equals(decoded.get(leaf.path()))) {
                                lost.add(leaf.path() + ": wrote " + Values.hex(v) + ", read " + Values.hex(decoded.get(leaf.path())));
                            }
                        });
                        assertThat(lost).as("%s: values not overwritten later must read back", view).isEmpty();

                        // The rest follows from a bit-by-bit model: overwritten leaves read what
                        // overwrote them, untouched ones zero, and no byte outside a write changes.
                        BitSet model = lastWriteWins(values);
                        List<String> unlike = new ArrayList<>();
                        for (Leaf leaf : view.leaves()) {
                            long expected = bitsOf(model, leaf);
                            if (decoded.get(leaf.path()) != expected) {
                                unlike.add(leaf.path() + ": model " + Values.hex(expected) + ", read " + Values.hex(decoded.get(leaf.path())));
                            }
                        }
                        assertThat(unlike).as("%s: leaves unlike the last-write-wins model", view).isEmpty();
                        assertThat(Values.toHex(bytes)).as("%s: encoded bytes", view)
                                .isEqualTo(Values.toHex(bytesOf(model, view.layout().size())));
                    });
        }
    }

    /**
     * encode(decode(b)) gives back b wherever the view has a leaf and zero
     * elsewhere: padding is never encoded, and for a selector struct decode shows
     * only the header and one member, so only their bytes come back. Inner unions
     * need no care here: decode reads every member from the same bits, so
     * re-encoding them in any order writes those bits again.
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void encodeReproducesTheBytesDecodeRead(String release) {
        for (View view : views(Abi.forRelease(XenRelease.parse(release)))) {
            int size = view.layout().size();
            byte[] covered = coverage(view);
            qt().withFixedSeed(SEED).withExamples(EXAMPLES_PER_VIEW).withShrinkCycles(SHRINK_CYCLES)
                    .forAll(Generate.byteArrays(Generate.constant(size), Generate.bytes(Byte.MIN_VALUE, Byte.MAX_VALUE, (byte) 0))
                            .describedAs(Values::toHex))
                    .checkAssert(bytes -> {
                        Map<String, Long> decoded = StructCodec.decode(view.layout(), bytes, view.member());
                        Map<String, String> text = new LinkedHashMap<>();
                        decoded.forEach((path, v) -> text.put(path, Values.hex(v)));
                        byte[] expected = new byte[size];
                        for (int i = 0; i < size; i++) {
                            expected[i] = (byte) (bytes[i] & covered[i]);
                        }
                        assertThat(Values.toHex(StructCodec.encode(view.layout(), text))).as("%s", view)
                                .isEqualTo(Values.toHex(expected));
                    });
        }
    }

    /**
     * The edges of every field's range: 2^w and beyond are rejected (signed
     * fields accept their unsigned bit pattern, up to 2^w - 1, too), as are
     * negatives for unsigned fields and anything below -2^(w-1) for signed ones;
     * the message names the field. The largest accepted values are checked as
     * well, so a codec that rejects everything cannot pass.
     */
    @Test
    void valuesOutsideAFieldAreRejectedNamingIt() {
        record Target(StructLayout layout, Leaf leaf) {
            @Override
            public String toString() {
                return layout.name() + "." + leaf.path() + " (" + leaf.type() + ", " + leaf.bitWidth() + " bits)";
            }
        }
        List<Target> targets = new ArrayList<>();
        for (XenRelease r : XenRelease.SUPPORTED) {
            for (StructLayout s : Abi.forRelease(r).structs()) {
                s.leaves().forEach(l -> targets.add(new Target(s, l)));
            }
        }
        Gen<BigInteger> excess = longs().between(0, Long.MAX_VALUE).map(BigInteger::valueOf)
                .mix(arbitrary().pick(BigInteger.ZERO, BigInteger.ONE), 30);

        qt().withFixedSeed(SEED).withExamples(4000)
                .forAll(arbitrary().pick(targets), excess)
                .checkAssert((t, extra) -> {
                    Leaf leaf = t.leaf();
                    BigInteger limit = BigInteger.ONE.shiftLeft(leaf.bitWidth());
                    BigInteger lowest = leaf.signed() ? BigInteger.ONE.shiftLeft(leaf.bitWidth() - 1).negate() : BigInteger.ZERO;

                    assertRejected(t.layout(), leaf, limit.add(extra));
                    assertRejected(t.layout(), leaf, lowest.subtract(BigInteger.ONE).subtract(extra));

                    BigInteger highest = limit.subtract(BigInteger.ONE);
                    assertThatCode(() -> encodeOne(t.layout(), leaf, highest)).as("%s = %s", t, highest).doesNotThrowAnyException();
                    assertThat(StructCodec.decode(t.layout(), encodeOne(t.layout(), leaf, highest), memberOf(t.layout(), leaf)))
                            .as("%s = 2^w - 1 reads back", t).containsEntry(leaf.path(), leaf.mask());
                    assertThatCode(() -> encodeOne(t.layout(), leaf, lowest)).as("%s = %s", t, lowest).doesNotThrowAnyException();
                });
    }

    // ---- views and values ------------------------------------------------------------------------

    /** Every struct of a release; a selector struct once per member of its union. */
    private static List<View> views(Abi abi) {
        List<View> out = new ArrayList<>();
        for (StructLayout s : abi.structs()) {
            if (s.selector().isEmpty()) {
                out.add(new View(s, Optional.empty(), s.leaves()));
                continue;
            }
            String union = s.selector().get().unionPath() + ".";
            List<String> members = s.fields().stream().map(Field::path)
                    .filter(p -> p.startsWith(union))
                    .map(p -> p.substring(union.length()))
                    .filter(rest -> !rest.contains(".") && !rest.contains("["))
                    .toList();
            assertThat(members).as("members of %s.%s", s.name(), union).isNotEmpty();
            for (String m : members) {
                List<Leaf> leaves = s.leaves().stream()
                        .filter(l -> !l.path().startsWith(union) || inMember(l, union + m))
                        .toList();
                out.add(new View(s, Optional.of(m), leaves));
            }
        }
        return out;
    }

    private static boolean inMember(Leaf leaf, String memberPath) {
        return leaf.path().startsWith(memberPath + ".") || leaf.path().startsWith(memberPath + "[");
    }

    /**
     * The member to name when decoding a selector struct so that a union leaf is
     * shown whatever the discriminator holds; header leaves are always shown.
     */
    private static Optional<String> memberOf(StructLayout layout, Leaf leaf) {
        return layout.selector()
                .filter(sel -> leaf.path().startsWith(sel.unionPath() + "."))
                .map(sel -> leaf.path().substring(sel.unionPath().length() + 1).split("[.\\[]", 2)[0]);
    }

    /**
     * Leaf values masked to their width, each leaf left out a quarter of the
     * time. The edge values are mixed in because a uniform long rarely makes a
     * field all zeros or all ones.
     */
    private static Gen<Map<Leaf, Long>> assignments(View view) {
        Gen<Long> value = longs().all().mix(arbitrary().pick(0L, -1L, 1L, Long.MIN_VALUE, Long.MAX_VALUE), 20);
        return lists().of(value.toOptionals(25)).ofSize(view.leaves().size())
                .map(chosen -> {
                    Map<Leaf, Long> out = new LinkedHashMap<>();
                    for (int i = 0; i < chosen.size(); i++) {
                        Leaf leaf = view.leaves().get(i);
                        chosen.get(i).ifPresent(v -> out.put(leaf, v & leaf.mask()));
                    }
                    return out;
                })
                .describedAs(values -> view + " " + values.entrySet().stream()
                        .map(e -> e.getKey().path() + "=" + Values.hex(e.getValue()))
                        .collect(Collectors.joining(", ", "{", "}")));
    }

    private static Map<String, String> asText(Map<Leaf, Long> values) {
        Map<String, String> text = new LinkedHashMap<>();
        values.forEach((leaf, v) -> text.put(leaf.path(), Values.hex(v)));
        return text;
    }

    /**
     * The leaves a later assignment shares bits with, found walking back from the last write with the bits
     * written after each leaf (a view of the monitor ring has some thousand leaves; pairs would be a million).
     */
    private static Set<Leaf> overwrittenLater(Map<Leaf, Long> values) {
        List<Leaf> order = new ArrayList<>(values.keySet());
        BitSet later = new BitSet();
        Set<Leaf> out = new HashSet<>();
        for (int i = order.size() - 1; i >= 0; i--) {
            Leaf leaf = order.get(i);
            int next = later.nextSetBit(leaf.bitOffset());
            if (next >= 0 && next < leaf.bitOffset() + leaf.bitWidth()) {
                out.add(leaf);
            }
            later.set(leaf.bitOffset(), leaf.bitOffset() + leaf.bitWidth());
        }
        return out;
    }

    // ---- the bit model: memory as single bits, so it shares no arithmetic with Leaf ----------------

    private static BitSet lastWriteWins(Map<Leaf, Long> values) {
        BitSet bits = new BitSet();
        values.forEach((leaf, v) -> {
            for (int i = 0; i < leaf.bitWidth(); i++) {
                bits.set(leaf.bitOffset() + i, ((v >>> i) & 1) != 0);
            }
        });
        return bits;
    }

    private static long bitsOf(BitSet bits, Leaf leaf) {
        long v = 0;
        for (int i = 0; i < leaf.bitWidth(); i++) {
            if (bits.get(leaf.bitOffset() + i)) {
                v |= 1L << i;
            }
        }
        return v;
    }

    private static byte[] bytesOf(BitSet bits, int size) {
        byte[] out = new byte[size];
        for (int i = bits.nextSetBit(0); i >= 0; i = bits.nextSetBit(i + 1)) {
            out[i / 8] |= (byte) (1 << (i % 8));
        }
        return out;
    }

    /** Per byte, the bits some leaf of the view occupies. */
    private static byte[] coverage(View view) {
        BitSet bits = new BitSet();
        view.leaves().forEach(l -> bits.set(l.bitOffset(), l.bitOffset() + l.bitWidth()));
        return bytesOf(bits, view.layout().size());
    }

    // ---- range checks ----------------------------------------------------------------------------

    private static byte[] encodeOne(StructLayout layout, Leaf leaf, BigInteger value) {
        String text = value.signum() < 0 ? value.toString() : "0x" + value.toString(16);
        return StructCodec.encode(layout, Map.of(leaf.path(), text));
    }

    private static void assertRejected(StructLayout layout, Leaf leaf, BigInteger value) {
        assertThatThrownBy(() -> encodeOne(layout, leaf, value))
                .as("%s.%s (%s, %d bits) = %s", layout.name(), leaf.path(), leaf.signed() ? "signed" : "unsigned",
                        leaf.bitWidth(), value)
                .isInstanceOf(AbiException.class)
                .hasMessageContaining(leaf.path());
    }
}
