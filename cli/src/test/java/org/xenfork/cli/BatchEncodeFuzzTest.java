package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.FuzzBudget;

/**
 * {@code abi encode --batch} on random and mutated lines (issue 16): every line gets one answer
 * line, the struct's hex or {@code error: line N: …} with a short message; a clean line is
 * encoded exactly as the command line encodes the same assignments, and a line that is clean
 * but for one flaw (a key twice, text after the object, a huge name or value) is refused for
 * that flaw in the command line's words. Each case is held to a CPU and heap budget, and every
 * few hundred cases the lines go through the command itself, which must answer them in order.
 */
class BatchEncodeFuzzTest {
    private static final FuzzBudget BUDGET = new FuzzBudget(Duration.ofMillis(250), 64L << 20);
    private static final List<XenRelease> RELEASES = List.copyOf(XenRelease.SUPPORTED);

    @TempDir
    Path dir;

    /** One generated line and what a correct encoder must answer for it, when the generator knows. */
    private record Case(byte[] bytes, String flaw, String struct, String release, List<String> assignments) {
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void everyLineIsAnsweredAsTheCommandLineWouldAnswerIt() throws Exception {
        long seed = FuzzBudget.seed(0x16_09_10L);
        Random random = new Random(seed);
        int cases = FuzzBudget.cases(3_000);
        List<byte[]> window = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        int encoded = 0;
        for (int n = 0; n < cases; n++) {
            Case c = line(random);
            int number = n;
            String[] answer = new String[1];
            BUDGET.run(() -> "seed " + seed + " case " + number + ": " + describe(c.bytes()), () -> {
                try {
                    answer[0] = AbiEncodeCommand.answer(window.size() + 1,
                            new AbiEncodeCommand.BoundedLineReader.Line(c.bytes(), false), null);
                    check(c, answer[0], window.size() + 1);
                } catch (RuntimeException | AssertionError e) {
                    throw new AssertionError("seed " + seed + " case " + number + ": " + e + " for " + describe(c.bytes()), e);
                }
            });
            encoded += answer[0].startsWith(AbiEncodeCommand.ERROR) ? 0 : 1;
            window.add(c.bytes());
            answers.add(answer[0]);
            if (window.size() == 200 || n == cases - 1) {
                theCommandAnswersInOrder(window, answers, seed, n);
                window.clear();
                answers.clear();
            }
        }
        assertThat(encoded).as("lines encoded of " + cases).isGreaterThan(cases / 10);
    }

    private static void check(Case c, String answer, int n) {
        assertThat(answer).doesNotContain("\n", "\r");
        if (answer.startsWith(AbiEncodeCommand.ERROR)) {
            assertThat(answer).startsWith(AbiEncodeCommand.ERROR + n + ": ").hasSizeLessThan(1_000);
        } else {
            assertThat(answer).matches("([0-9a-f]{2})*"); // hvm_save_end is 0 bytes
        }
        if (c.flaw() == null) {
            StructLayout layout = Abi.forRelease(XenRelease.parse(c.release())).struct(c.struct());
            String cli = Values.toHex(StructCodec.encode(layout, AbiEncodeCommand.parseAssignments(c.assignments())));
            assertThat(answer).as("as the command line encodes it").isEqualTo(cli);
        } else if (!c.flaw().isEmpty()) {
            assertThat(answer).startsWith(AbiEncodeCommand.ERROR + n + ": ").contains(c.flaw());
        }
    }

    /** The batch command over a file of the lines: one answer each, in order, the same as line by line. */
    private void theCommandAnswersInOrder(List<byte[]> lines, List<String> answers, long seed, int n) throws Exception {
        Path file = dir.resolve("batch.jsonl");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] l : lines) {
            b.write(l);
            b.write('\n');
        }
        Files.write(file, b.toByteArray());
        StringWriter out = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(new StringWriter()), "abi", "encode", "--batch",
                file.toString());
        List<String> got = out.toString().lines().toList();
        assertThat(got).as("seed %d, the %d lines up to case %d through the command", seed, lines.size(), n)
                .containsExactlyElementsOf(answers);
        assertThat(code).isEqualTo(answers.stream().anyMatch(a -> a.startsWith(AbiEncodeCommand.ERROR))
                ? Main.EXIT_USAGE : Main.EXIT_OK);
    }

    /** A batch line: mostly a plausible one for a real struct, now and then with one flaw, or mutated bytes. */
    private static Case line(Random r) {
        XenRelease release = RELEASES.get(r.nextInt(RELEASES.size()));
        List<StructLayout> structs = Abi.forRelease(release).structs();
        StructLayout layout = structs.get(r.nextInt(structs.size()));
        List<Leaf> leaves = layout.leaves();
        List<String> assignments = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        List<String> values = new ArrayList<>();
        int fields = leaves.isEmpty() ? 0 : r.nextInt(4);
        for (int i = 0; i < fields; i++) {
            Leaf leaf = leaves.get(r.nextInt(leaves.size()));
            if (keys.contains(leaf.path())) {
                continue;
            }
            long v = r.nextLong() & leaf.mask();
            boolean hex = r.nextBoolean();
            String text = hex ? "0x" + Long.toHexString(v) : Long.toUnsignedString(v);
            keys.add(leaf.path());
            values.add(r.nextInt(4) == 0 && !hex && v >= 0 ? text : json(text));
            assignments.add(leaf.path() + "=" + text);
        }
        String struct = json(layout.name());
        String flaw = null;
        String after = "";
        String extraKey = "";
        switch (r.nextInt(12)) {
            case 0 -> {
                if (!keys.isEmpty()) {
                    keys.add(keys.get(0));
                    values.add("1");
                    flaw = Values.quoted(keys.get(0)) + " is assigned twice";
                }
            }
            case 1 -> {
                after = r.nextBoolean() ? " x" : " {}";
                flaw = "text after the JSON object";
            }
            case 2 -> {
                int len = r.nextInt(50) == 0 ? 1_000_000 : 20_000;
                struct = json("s".repeat(len));
                flaw = "no struct \"sss";
            }
            case 3 -> {
                if (!keys.isEmpty()) {
                    int len = r.nextInt(50) == 0 ? 900_000 : 2_000;
                    values.set(0, json("9".repeat(len)));
                    flaw = "significant decimal digits";
                }
            }
            case 4 -> {
                extraKey = ",\"struct\":" + struct;
                flaw = "\"struct\" is assigned twice";
            }
            case 5 -> {
                if (!keys.isEmpty()) {
                    keys.set(0, keys.get(0) + "_");
                    flaw = "no field";
                }
            }
            case 6 -> flaw = ""; // mutated below: any answer but a stack trace
            default -> {
                // clean
            }
        }
        StringBuilder f = new StringBuilder("{");
        for (int i = 0; i < keys.size(); i++) {
            f.append(i > 0 ? "," : "").append(json(keys.get(i))).append(':').append(values.get(i));
        }
        f.append('}');
        List<String> parts = new ArrayList<>(List.of("\"xen\":" + json(release.toString()), "\"struct\":" + struct,
                "\"fields\":" + f));
        java.util.Collections.shuffle(parts, r);
        String text = "{" + String.join(r.nextBoolean() ? "," : " , ", parts) + extraKey + "}" + after;
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (flaw != null && flaw.isEmpty()) {
            bytes = mutate(r, bytes);
        }
        return new Case(bytes, flaw, layout.name(), release.toString(), assignments);
    }

    /** Up to four byte edits: replaced (by a byte that may not be UTF-8), deleted, inserted, or the line cut. */
    private static byte[] mutate(Random r, byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] b = in.clone();
        int edits = 1 + r.nextInt(4);
        int cut = b.length;
        for (int i = 0; i < edits; i++) {
            int at = r.nextInt(b.length);
            switch (r.nextInt(3)) {
                case 0 -> b[at] = (byte) (r.nextInt(256) == '\n' ? ' ' : r.nextInt(256));
                case 1 -> b[at] = (byte) "{}[]\",:0x\\ u".charAt(r.nextInt(12));
                default -> cut = Math.min(cut, at);
            }
        }
        out.write(b, 0, cut);
        byte[] result = out.toByteArray();
        for (int i = 0; i < result.length; i++) {
            result[i] = result[i] == '\n' ? (byte) ' ' : result[i];
        }
        return result;
    }

    private static String json(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String describe(byte[] line) {
        byte[] head = line.length > 2_000 ? java.util.Arrays.copyOf(line, 2_000) : line;
        return "line of " + line.length + " bytes, hex " + HexFormat.of().formatHex(head);
    }
}
