package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.time.Duration;
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
import org.xenfork.testfixtures.FuzzBudget;
import org.xenfork.testfixtures.HvmStreamMutations;

/**
 * Random and mutated streams ({@link HvmStreamMutations}: mutations of the real
 * samples and of a synthetic stream with every variable-length and unknown record).
 * Each is parsed by a random release's rules, and the only outcomes allowed are:
 * accepted, then serialised to exactly the input, decoded, and diffed against itself
 * (no difference), against its seed and against the case before (as many differences
 * either way round, no value longer than {@link HvmDiff#MAX_HEX_BYTES} bytes of hex);
 * or refused with an {@link HvmContextException} that names an offset inside the
 * input. Anything else (another exception, a case over its CPU or allocation budget,
 * a hang past the timeout) fails, with the seed and the input.
 *
 * <p>{@link FuzzBudget}: {@value #IN_VERIFY} cases in {@code mvn verify}, 100,000 under
 * {@code -Pnightly-fuzz}; fixed seed, {@code -Dxenfork.fuzz.seed} changes it. The CLI's
 * {@code show} and {@code diff} output of the same streams is fuzzed by cli's HvmContextViewFuzzTest.
 */
class HvmContextFuzzTest {
    private static final int IN_VERIFY = 4_000;
    private static final long SEED = FuzzBudget.seed(0xF022_4717L);
    private static final List<XenRelease> RELEASES = XenRelease.SUPPORTED;
    /**
     * One case: a stream of at most about 70 KB (a seed with a 64 KB tail), parsed, decoded and diffed
     * twice. A few ms of CPU and a few hundred KB are what it takes; the budget is far above that and far
     * below what a quadratic walk or a whole-input copy per record would cost.
     */
    private static final FuzzBudget BUDGET = new FuzzBudget(Duration.ofMillis(500), 16 << 20);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES) // 100,000 cases took 5 s here; a case that never returns fails here
    void randomAndMutatedStreamsParseLosslesslyOrFailCleanly() throws Exception {
        List<byte[]> seeds = HvmStreamMutations.seeds();
        List<HvmContext> seedContexts = new ArrayList<>();
        for (byte[] s : seeds) {
            seedContexts.add(HvmContext.parse(s, XenRelease.parse("4.17")));
        }
        for (XenRelease r : RELEASES) { // layouts and field plans are made once per process: not a case's cost
            for (byte[] s : seeds) {
                accept(HvmContext.parse(s, r), seedContexts.get(0));
            }
        }
        Map<String, BiFunction<byte[], Random, byte[]>> mutations = HvmStreamMutations.all();
        List<String> names = new ArrayList<>(mutations.keySet());
        Map<String, int[]> outcomes = new LinkedHashMap<>();
        names.forEach(n -> outcomes.put(n, new int[2]));
        Random random = new Random(SEED);
        int cases = FuzzBudget.cases(IN_VERIFY);
        HvmContext[] previous = {null}; // the last accepted context: a second, mutated, side to diff against
        long started = System.nanoTime();
        for (int n = 0; n < cases; n++) {
            int s = random.nextInt(seeds.size());
            String mutation = names.get(random.nextInt(names.size()));
            byte[] input = mutations.get(mutation).apply(seeds.get(s).clone(), random);
            XenRelease release = RELEASES.get(random.nextInt(RELEASES.size()));
            int c = n;
            try {
                BUDGET.run(() -> report(c, mutation, release, input, "over budget"), () -> {
                    try {
                        HvmContext ctx = HvmContext.parse(input, release);
                        if (!Arrays.equals(ctx.serialise(), input)) {
                            fail(report(c, mutation, release, input, "accepted, but serialised to other bytes"));
                        }
                        String wrong = accept(ctx, seedContexts.get(s));
                        if (wrong == null && previous[0] != null && previous[0].release().equals(release)) {
                            wrong = accept(ctx, previous[0]);
                        }
                        if (wrong != null) {
                            fail(report(c, mutation, release, input, wrong));
                        }
                        previous[0] = ctx;
                        outcomes.get(mutation)[0]++;
                    } catch (HvmContextException e) {
                        long at = e.offset().orElse(-1);
                        if (at < 0 || at > input.length
                                || !e.getMessage().matches("(?s)(offset|record \\d+ \\(\\w+, instance \\d+\\) at offset) 0x.*")) {
                            fail(report(c, mutation, release, input, "refused without naming an offset inside the input: "
                                    + e.getMessage()));
                        }
                        outcomes.get(mutation)[1]++;
                    }
                });
            } catch (AssertionError e) {
                throw e;
            } catch (Exception | Error e) {
                throw new AssertionError(report(n, mutation, release, input, "threw " + e), e);
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        int accepted = outcomes.values().stream().mapToInt(o -> o[0]).sum();
        int refused = outcomes.values().stream().mapToInt(o -> o[1]).sum();
        StringBuilder table = new StringBuilder();
        outcomes.forEach((k, v) -> table.append(String.format("  %-22s accepted %6d  refused %6d%n", k, v[0], v[1])));
        System.out.printf("HvmContextFuzzTest: %d inputs in %d ms (seed %#x): %d accepted and round-tripped, %d refused cleanly%n%s",
                cases, ms, SEED, accepted, refused, table);
        assertThat(accepted + refused).isEqualTo(cases);
        assertThat(accepted).as("inputs accepted").isGreaterThan(cases / 10);
        assertThat(refused).as("inputs refused").isGreaterThan(cases / 10);
    }

    /**
     * What is wrong with an accepted context's fields and diffs, or null: a context differs from
     * itself in nothing; against another (its seed, the case before) the diff has as many differences
     * either way round, and no value longer than {@link HvmDiff#MAX_HEX_BYTES} bytes of hex.
     */
    private static String accept(HvmContext ctx, HvmContext other) {
        for (HvmRecord r : ctx.records()) {
            r.forEachField(f -> {
            });
        }
        if (HvmDiff.each(ctx, ctx, d -> {
        }) != 0) {
            return "differs from itself";
        }
        String[] wrong = {null};
        long there = HvmDiff.each(other, ctx, d -> {
            for (String v : new String[] {d.a(), d.b()}) {
                if (v != null && v.length() > 2 * HvmDiff.MAX_HEX_BYTES + 32) {
                    wrong[0] = "diff: a value of " + v.length() + " characters: " + d;
                }
            }
        });
        long back = HvmDiff.each(ctx, other, d -> {
        });
        return wrong[0] != null ? wrong[0] : there != back ? "diff: " + there + " differences one way, " + back + " the other" : null;
    }

    private static String report(int n, String mutation, XenRelease release, byte[] input, String what) {
        String hex = Values.toHex(input);
        return "input " + n + " (seed 0x" + Long.toHexString(SEED) + ", mutation " + mutation + ", Xen " + release + ", "
                + input.length + " bytes): " + what + "\n" + (hex.length() > 20_000 ? hex.substring(0, 20_000) + "…" : hex);
    }
}
