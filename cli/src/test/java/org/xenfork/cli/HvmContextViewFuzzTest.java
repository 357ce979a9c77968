package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.hvmcontext.HvmRecord;
import org.xenfork.sim.SimXen;
import org.xenfork.testfixtures.FuzzBudget;
import org.xenfork.testfixtures.HvmStreamMutations;

/**
 * What {@code hvm-context show} and {@code diff} print for mutated streams
 * ({@link HvmStreamMutations}, as hvm-context's HvmContextFuzzTest parses them).
 * Each stream the codec accepts is shown as text and as JSON, with a random
 * {@code --type}/{@code --vcpu}-like filter, and diffed against its seed as text and
 * JSON, through {@link HvmContextView}: the text has a line per shown record and the
 * END line, the JSON parses and holds every record under {@code stream} and every
 * shown record under its type, the diff prints as many lines or elements as it
 * counts. Every 50th stream, accepted or not, also goes through the whole command
 * line from a file: exit 0, or exit 2 with a message and nothing on stdout; never
 * an internal error. Within {@link FuzzBudget}'s CPU and allocation bounds per case.
 */
class HvmContextViewFuzzTest extends CommandRunner {
    private static final int IN_VERIFY = 2_000;
    private static final long SEED = FuzzBudget.seed(0x5_4017L);
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A stream of at most about 70 KB shown twice and diffed twice: a few ms and a few MB of text. */
    private static final FuzzBudget BUDGET = new FuzzBudget(Duration.ofMillis(1500), 64 << 20);

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES) // 100,000 cases took 26 s here; a case that never returns fails here
    void showAndDiffPrintEveryStreamTheCodecAccepts() throws Exception {
        List<byte[]> seeds = HvmStreamMutations.seeds();
        List<HvmContext> seedContexts = new ArrayList<>();
        for (byte[] s : seeds) {
            seedContexts.add(HvmContext.parse(s, XEN_4_17));
        }
        for (HvmContext c : seedContexts) { // classes loaded, plans made: once per process, not a case's cost
            views(c, r -> true, seedContexts.get(0));
        }
        Map<String, BiFunction<byte[], Random, byte[]>> mutations = HvmStreamMutations.all();
        List<String> names = new ArrayList<>(mutations.keySet());
        Random random = new Random(SEED);
        int cases = FuzzBudget.cases(IN_VERIFY);
        int[] shown = {0};
        int commands = 0;
        Path file = dir.resolve("ctx.bin");
        for (int n = 0; n < cases; n++) {
            int s = random.nextInt(seeds.size());
            String mutation = names.get(random.nextInt(names.size()));
            byte[] input = mutations.get(mutation).apply(seeds.get(s).clone(), random);
            Predicate<HvmRecord> filter = filter(random);
            int c = n;
            try {
                BUDGET.run(() -> report(c, mutation, input, "over budget"), () -> {
                    HvmContext ctx;
                    try {
                        ctx = HvmContext.parse(input, XEN_4_17);
                    } catch (HvmContextException refused) {
                        return; // refusals are hvm-context's to check
                    }
                    views(ctx, filter, seedContexts.get(s));
                    shown[0]++;
                });
                if (n % 50 == 0) {
                    Files.write(file, input);
                    commands++;
                    String[] args = random.nextBoolean() ? new String[] {"hvm-context", "show", file.toString()}
                            : new String[] {"--json", "hvm-context", "diff", file.toString(), file.toString()};
                    Run r = xenfork(SimXen::create, args);
                    assertThat(r.err()).as(report(c, mutation, input, "the command line")).doesNotContain("internal error");
                    assertThat(r.code()).as(report(c, mutation, input, r.err())).isIn(Main.EXIT_OK, Main.EXIT_USAGE);
                    if (r.code() == Main.EXIT_USAGE) {
                        assertThat(r.out()).isEmpty();
                        assertThat(r.err()).startsWith("xenfork: " + file + ": ");
                    }
                }
            } catch (AssertionError e) {
                throw e;
            } catch (Exception | Error e) {
                throw new AssertionError(report(n, mutation, input, "threw " + e), e);
            }
        }
        System.out.printf("HvmContextViewFuzzTest: %d inputs (seed %#x): %d shown and diffed, %d through the command line%n",
                cases, SEED, shown[0], commands);
        assertThat(shown[0]).as("streams shown").isGreaterThan(cases / 10);
    }

    /** Shows {@code ctx} as text and JSON and diffs it against {@code other} both ways, checking what comes out. */
    private static void views(HvmContext ctx, Predicate<HvmRecord> filter, HvmContext other) throws Exception {
        List<HvmRecord> records = ctx.records();
        long shown = records.stream().filter(filter).count();

        StringWriter text = new StringWriter();
        HvmContextView.text(ctx, filter, new PrintWriter(text));
        List<String> lines = text.toString().lines().toList();
        assertThat(lines.get(0)).isEqualTo("HVM context: " + ctx.size() + " bytes, Xen 4.17 rules, " + records.size()
                + " records and END");
        assertThat(lines.stream().filter(l -> l.startsWith("["))).hasSize((int) shown);
        assertThat(lines.stream().filter(l -> l.startsWith("END: instance "))).hasSize(1);

        StringWriter json = new StringWriter();
        HvmContextView.json(ctx, filter, json);
        JsonNode o = JSON.readTree(json.toString());
        assertThat(o.at("/stream/records")).hasSize(records.size());
        assertThat(o.at("/stream/end/trailing").asText()).isEqualTo(Values.toHex(ctx.trailing()));
        int objects = 0;
        for (Map.Entry<String, JsonNode> t : o.properties()) {
            if (!t.getKey().equals("stream")) {
                objects += t.getValue().size();
            }
        }
        assertThat(objects).as("records under their types").isEqualTo(shown);

        StringWriter diff = new StringWriter();
        long count = HvmContextView.diffText(other, ctx, new PrintWriter(diff));
        assertThat(diff.toString().lines()).hasSize((int) count);
        StringWriter diffJson = new StringWriter();
        assertThat(HvmContextView.diffJson(ctx, other, diffJson)).isEqualTo(count);
        assertThat(JSON.readTree(diffJson.toString()))
                .hasSize((int) Math.min(count, HvmContextView.MAX_SHOWN) + (count > HvmContextView.MAX_SHOWN ? 1 : 0));
    }

    /** All records, one type, one vCPU's, or one type of one vCPU, as show's --type and --vcpu choose. */
    private static Predicate<HvmRecord> filter(Random random) {
        int type = random.nextInt(22);
        int vcpu = random.nextInt(3);
        switch (random.nextInt(4)) {
            case 0:
                return r -> r.typecode() == type;
            case 1:
                return r -> r.isPerVcpu() && r.instance() == vcpu;
            case 2:
                return r -> r.typecode() == type && r.isPerVcpu() && r.instance() == vcpu;
            default:
                return r -> true;
        }
    }

    private static String report(int n, String mutation, byte[] input, String what) {
        String hex = Values.toHex(input);
        return "input " + n + " (seed 0x" + Long.toHexString(SEED) + ", mutation " + mutation + ", " + input.length
                + " bytes): " + what + "\n" + (hex.length() > 20_000 ? hex.substring(0, 20_000) + "..." : hex);
    }
}
