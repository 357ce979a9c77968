package org.xenfork.fuzz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.longs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;

/** {@link HavocMutator}: deterministic under its random seed, bounded by its size, seeds first. */
class HavocMutatorTest {
    private static final long SEED = 0x15;
    private static final int EXAMPLES = 200;
    private static final int INPUTS = 200;

    /** Seeds of 0 to 80 bytes, 0 to 4 of them, from a byte pattern (QuickTheories has no byte arrays). */
    private static Gen<List<byte[]>> seeds() {
        return lists().of(lists().of(integers().between(0, 255)).ofSizeBetween(0, 80)).ofSizeBetween(0, 4)
                .map(ls -> ls.stream().map(l -> {
                    byte[] b = new byte[l.size()];
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (byte) (int) l.get(i);
                    }
                    return b;
                }).toList());
    }

    private static List<byte[]> inputs(HavocMutator m, int n) {
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(m.next());
        }
        return out;
    }

    @Test
    void theSameSeedsSizeAndRandomSeedGiveTheSameInputs() {
        qt().withFixedSeed(SEED).withExamples(EXAMPLES).forAll(seeds(), integers().between(1, 96), longs().all())
                .checkAssert((seeds, size, random) -> {
                    List<byte[]> a = inputs(new HavocMutator(seeds, size, random), INPUTS);
                    List<byte[]> b = inputs(new HavocMutator(seeds, size, random), INPUTS);
                    for (int i = 0; i < INPUTS; i++) {
                        assertThat(a.get(i)).as("input %d", i).isEqualTo(b.get(i));
                    }
                });
    }

    @Test
    void noInputIsLongerThanTheSizeAndTheSeedsComeFirstCutToIt() {
        qt().withFixedSeed(SEED + 1).withExamples(EXAMPLES).forAll(seeds(), integers().between(1, 96), longs().all())
                .checkAssert((seeds, size, random) -> {
                    HavocMutator m = new HavocMutator(seeds, size, random);
                    List<byte[]> in = inputs(m, INPUTS);
                    in.forEach(i -> assertThat(i.length).isBetween(0, size));
                    List<byte[]> expected = seeds.isEmpty() ? List.of(new byte[size])
                            : seeds.stream().map(s -> Arrays.copyOf(s, Math.min(s.length, size))).toList();
                    for (int i = 0; i < expected.size(); i++) {
                        assertThat(in.get(i)).as("seed %d as it is", i).isEqualTo(expected.get(i));
                    }
                });
    }

    @Test
    void mutationsChangeTheInputsAndOtherRandomSeedsGiveOtherInputs() {
        byte[] seed = new byte[32];
        List<byte[]> a = inputs(new HavocMutator(List.of(seed), 32, 1), 100);
        List<byte[]> b = inputs(new HavocMutator(List.of(seed), 32, 2), 100);
        assertThat(a.subList(1, 100)).as("havoc changes something").anyMatch(i -> !Arrays.equals(i, seed));
        long same = 0;
        for (int i = 1; i < 100; i++) {
            same += Arrays.equals(a.get(i), b.get(i)) ? 1 : 0;
        }
        assertThat(same).as("two random seeds, two sequences").isLessThan(50);
    }

    @Test
    void everyKindOfMutationShowsUp() {
        // lengths change (insertions, deletions, splices) and bytes change in place
        byte[] seed = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] other = "ZYXWVUTSRQPONMLKJIHGFEDCBA".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        List<byte[]> in = inputs(new HavocMutator(List.of(seed, other), 64, 3), 2000);
        assertThat(in).anyMatch(i -> i.length > other.length);
        assertThat(in).anyMatch(i -> i.length < seed.length);
        assertThat(in).as("a splice: one's start, the other's end").anyMatch(i -> i.length > 2 && i[0] == '0'
                && i[i.length - 1] == 'A');
        assertThat(in).as("an interesting value").anyMatch(i -> new String(i, java.nio.charset.StandardCharsets.ISO_8859_1)
                .contains("\u00ff\u00ff\u00ff\u007f"));
    }

    @Test
    void boundsAreChecked() {
        assertThatThrownBy(() -> new HavocMutator(List.of(), 0, 1)).hasMessageContaining("1 to 1048576");
        assertThatThrownBy(() -> new HavocMutator(List.of(), FuzzTarget.MAX_INPUT_SIZE + 1, 1))
                .isInstanceOf(IllegalArgumentException.class);
        List<byte[]> many = new ArrayList<>();
        for (int i = 0; i <= HavocMutator.MAX_SEEDS; i++) {
            many.add(new byte[1]);
        }
        assertThatThrownBy(() -> new HavocMutator(many, 8, 1)).hasMessageContaining("at most 4096");
    }
}
