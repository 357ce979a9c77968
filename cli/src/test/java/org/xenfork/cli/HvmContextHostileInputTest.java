package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.hvmcontext.HvmDiff;
import org.xenfork.sim.SimXen;
import org.xenfork.testfixtures.FuzzBudget;
import org.xenfork.testfixtures.HvmSamples;
import org.xenfork.testfixtures.SpecialFiles;

/**
 * {@code xenfork hvm-context} against the files of issue 16 (items 3, 4 and 5): what is
 * not a regular file, streams of a hundred thousand records, and 60 MB tails that differ.
 * Bounds on CPU time and allocation are {@link FuzzBudget}'s, each far above what the
 * command needs and far below what the code it replaced took.
 */
class HvmContextHostileInputTest extends CommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Issue 16 item 5: {@code show /dev/zero} read until the heap was gone (23 s, 5.5 GB). */
    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void aDeviceIsRefusedAsNoRegularFile() {
        Path zero = Path.of("/dev/zero");
        Assumptions.assumeTrue(Files.exists(zero), "this system has no /dev/zero");
        Run r = xenfork(SimXen::create, "hvm-context", "show", zero.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).isEqualTo("xenfork: cannot read /dev/zero: not a regular file (a device, FIFO or socket); "
                + "give an HVM context file, as hvm-context get writes it" + System.lineSeparator());
        assertThat(r.out()).isEmpty();
    }

    /**
     * Issue 16 item 5: a FIFO without a writer blocked {@code show} forever (opening it waits for one). Every
     * command that reads a context file refuses it before opening it. Should one block, the test opens the
     * FIFO for writing itself, which lets the command go on, and fails.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFifoIsRefusedBeforeItIsOpened() throws Exception {
        Path fifo = SpecialFiles.fifo(dir.resolve("ctx.fifo"));
        Path sample = dir.resolve("hvm.bin");
        Files.write(sample, HvmSamples.bytes(HvmSamples.HVM));
        List<List<String>> commands = List.of(
                List.of("hvm-context", "show", fifo.toString()),
                List.of("hvm-context", "diff", sample.toString(), fifo.toString()),
                List.of("hvm-context", "set-reg", fifo.toString(), "--vcpu", "0", "rip=0", "-o", dir.resolve("out").toString()),
                List.of("--backend", "sim", "hvm-context", "set", "1", fifo.toString()));
        for (List<String> args : commands) {
            Run r = withoutBlocking(fifo, args.toArray(String[]::new));
            assertThat(r.code()).as(args + ": " + r.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(r.err()).as(args.toString()).contains("cannot read " + fifo + ": not a regular file");
        }
        assertThat(dir.resolve("out")).doesNotExist();
    }

    @Test
    void aFolderIsRefusedByName() {
        Run r = xenfork(SimXen::create, "hvm-context", "show", dir.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("cannot read " + dir + ": it is a folder");
    }

    /**
     * The read is bounded by the size checked before it, so a file that has more than its size said (one
     * that grows while it is read, or a kernel file whose size is 0) is refused, not read to its end.
     */
    @Test
    void aFileWithMoreBytesThanItsSizeIsRefused() {
        Path status = Path.of("/proc/self/status");
        Assumptions.assumeTrue(Files.isRegularFile(status), "no /proc/self/status here");
        Run r = xenfork(SimXen::create, "hvm-context", "show", status.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("cannot read /proc/self/status: it grew while it was read (from 0 bytes)");
    }

    /**
     * Issue 16 item 4: {@code show} of 100,001 empty records (800 KB) took 34 s, since each record's offset
     * summed all the records before it. Text and JSON, within a CPU budget a quadratic walk cannot meet.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void showOfAHundredThousandAndOneRecordsIsOneWalk() throws Exception {
        Path file = dir.resolve("many.bin");
        Files.write(file, emptyRecords(100_000));
        xenfork(SimXen::create, "hvm-context", "show", file.toString()); // classes loaded, code compiled: not the budget's
        // CPU is the bound that matters (the quadratic walk took 34 s); what a line of text costs to make
        // (a few hundred bytes, all garbage at once) is bounded only against a blow-up. What stays is
        // measured by parseAndShowOfA64MegabyteStreamFitInFourTimesItsSize.
        FuzzBudget budget = new FuzzBudget(Duration.ofSeconds(5), 400L * Files.size(file));
        Run[] text = {null};
        budget.run(() -> "show of 100,001 records", () -> text[0] = xenfork(SimXen::create, "hvm-context", "show",
                file.toString()));
        assertThat(text[0].code()).as(text[0].err()).isZero();
        assertThat(text[0].out().lines()).as("a line a record, HEADER's five fields, END").hasSize(1 + 100_001 + 5 + 1)
                .contains("[100000] CPU vcpu 34463: 0 bytes at 0xc3518 (1032 bytes short of hvm_hw_cpu: the loader zero-extends them)")
                .endsWith("END: instance 0, length 0 at 0xc3520");
        Run[] json = {null};
        budget.run(() -> "show --json of 100,001 records", () -> json[0] = xenfork(SimXen::create, "--json", "hvm-context",
                "show", file.toString()));
        assertThat(json[0].code()).as(json[0].err()).isZero();
        JsonNode o = JSON.readTree(json[0].out());
        assertThat(o.at("/stream/records")).hasSize(100_001);
        assertThat(o.at("/stream/records/100000/offset").asText()).isEqualTo("0xc3518");
        assertThat(o.at("/CPU")).as("instances 0 .. 65535, then 0 .. 34463 again as #2").hasSize(100_000);
        assertThat(o.at("/CPU/34463#2").isObject()).isTrue();
    }

    /**
     * Issue 16 item 3: two files under the 64 MB limit with 60 MB of differing bytes after END: 289 s, 6.5 GB,
     * {@code OutOfMemoryError}. Now the output is {@link HvmDiff#MAX_RUNS} runs and a line saying what was left
     * out, and the command allocates the two files and the two contexts' copies of them, not more.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void diffOfSixtyMegabyteTailsIsBoundedInOutputAndHeap() throws Exception {
        int size = 60 << 20;
        byte[] tail = new byte[size];
        for (int i = 0; i < size; i += 2) {
            tail[i] = (byte) (1 + i % 255);
        }
        Path a = dir.resolve("a.bin");
        Path b = dir.resolve("b.bin");
        Files.write(a, withTail(new byte[size]));
        Files.write(b, withTail(tail));
        long files = Files.size(a) + Files.size(b);
        // the two files read, the two contexts' copies of them, and little else
        FuzzBudget budget = new FuzzBudget(Duration.ofSeconds(30), 3 * files);
        Run[] text = {null};
        budget.run(() -> "diff of 60 MB tails", () -> text[0] = xenfork(SimXen::create, "hvm-context", "diff",
                a.toString(), b.toString()));
        assertThat(text[0].code()).as(text[0].err()).isZero();
        List<String> lines = text[0].out().lines().toList();
        assertThat(lines).hasSize(HvmDiff.MAX_RUNS + 1);
        assertThat(lines.get(0)).isEqualTo("END instance 0: trailing[0] 00 -> 01");
        assertThat(lines.get(HvmDiff.MAX_RUNS)).isEqualTo("END instance 0: trailing[128..62914558] 31457216 more runs of "
                + "differing bytes (31457216 bytes) left out");
        Run[] json = {null};
        budget.run(() -> "diff --json of 60 MB tails", () -> json[0] = xenfork(SimXen::create, "--json", "hvm-context",
                "diff", a.toString(), b.toString()));
        JsonNode d = JSON.readTree(json[0].out());
        assertThat(d).hasSize(HvmDiff.MAX_RUNS + 1);
        JsonNode last = d.get(HvmDiff.MAX_RUNS);
        assertThat(last.get("field").asText()).isEqualTo("trailing[128..62914558]");
        assertThat(last.get("a").isNull()).isTrue();
        assertThat(last.at("/left_out/runs").asLong()).isEqualTo(31_457_216L);
        assertThat(last.at("/left_out/bytes").asLong()).isEqualTo(31_457_216L);
    }

    /**
     * Issue 16 item 4's heap: a 64 MB stream (8 million empty records) needed 810 MB of heap and failed at
     * {@code -Xmx512m}. {@code xenfork} in a JVM of its own with a heap four times the stream's size reads it,
     * walks every record and prints HEADER's.
     */
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void parseAndShowOfA64MegabyteStreamFitInFourTimesItsSize() throws Exception {
        Path file = dir.resolve("64m.bin");
        int records = (HvmContextSource.MAX_BYTES - 40) / 8;
        Files.write(file, emptyRecords(records));
        assertThat(Files.size(file)).isLessThanOrEqualTo(HvmContextSource.MAX_BYTES).isGreaterThan(HvmContextSource.MAX_BYTES - 8);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-Xmx" + 4 * (HvmContextSource.MAX_BYTES >> 20) + "m",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "hvm-context", "show", file.toString(), "--type", "HEADER")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
        assertThat(out).startsWith("HVM context: " + Files.size(file) + " bytes, Xen 4.17 rules, " + (records + 1)
                + " records and END").contains("[0] HEADER instance 0: 24 bytes at 0x0");
    }

    /** Bytes after END are dumped as other byte strings are, a line per 32 bytes, not one line of any length. */
    @Test
    void showDumpsALongTail() throws IOException {
        byte[] tail = new byte[100];
        tail[99] = (byte) 0xab;
        Path file = dir.resolve("tail.bin");
        Files.write(file, withTail(tail));
        Run r = xenfork(SimXen::create, "hvm-context", "show", file.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).endsWith("END: instance 0, length 0 at 0x20; then 100 bytes Xen's loader ignores:\n"
                .replace("\n", System.lineSeparator())
                + "        0000: " + "00".repeat(32) + System.lineSeparator()
                + "        0020: " + "00".repeat(32) + System.lineSeparator()
                + "        0040: " + "00".repeat(32) + System.lineSeparator()
                + "        0060: 000000ab" + System.lineSeparator());
    }

    // ---- helpers ---------------------------------------------------------------------------------

    /** Runs a command that must not open {@code fifo}; if it blocks there, a writer releases it and the test fails. */
    private Run withoutBlocking(Path fifo, String... args) throws Exception {
        CompletableFuture<Run> run = CompletableFuture.supplyAsync(() -> xenfork(SimXen::create, args));
        try {
            return run.get(20, TimeUnit.SECONDS);
        } catch (TimeoutException blocked) {
            try (OutputStream release = Files.newOutputStream(fifo)) {
                release.flush();
            }
            run.get(20, TimeUnit.SECONDS);
            return fail(String.join(" ", args) + ": blocked opening the FIFO " + fifo);
        } catch (ExecutionException e) {
            throw new AssertionError(e.getCause());
        }
    }

    /** HEADER (the real sample's), then {@code n} CPU records with no body, then END: 8 bytes a record. */
    static byte[] emptyRecords(int n) {
        byte[] header = java.util.Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 32);
        ByteBuffer b = ByteBuffer.allocate(32 + 8 * n + 8).order(ByteOrder.LITTLE_ENDIAN).put(header);
        for (int i = 0; i < n; i++) {
            b.putShort((short) 2).putShort((short) i).putInt(0);
        }
        return b.putLong(0).array();
    }

    /**
     * A guest shapes its CPU_MSR record: one of 100,000 entries whose every value differs from the other stream's
     * gave one line per entry. {@code diff} prints the first {@link HvmContextView#MAX_SHOWN} and counts the rest.
     */
    @Test
    void diffOfAnMsrRecordWhoseEveryEntryDiffersIsCutWithACount() throws Exception {
        int entries = 100_000;
        Path a = dir.resolve("msr-a.bin");
        Path b = dir.resolve("msr-b.bin");
        Files.write(a, withMsrs(entries, 0));
        Files.write(b, withMsrs(entries, 1));
        Run text = xenfork(SimXen::create, "hvm-context", "diff", a.toString(), b.toString());
        assertThat(text.code()).as(text.err()).isZero();
        List<String> lines = text.out().lines().toList();
        assertThat(lines).hasSize(HvmContextView.MAX_SHOWN + 1);
        assertThat(lines.get(0)).isEqualTo("CPU_MSR vcpu 0: msr[0].val 0x0 -> 0x1");
        assertThat(lines.get(HvmContextView.MAX_SHOWN)).isEqualTo("… " + (entries - HvmContextView.MAX_SHOWN)
                + " more differences left out (diff prints the first " + HvmContextView.MAX_SHOWN + ")");
        Run json = xenfork(SimXen::create, "--json", "hvm-context", "diff", a.toString(), b.toString());
        JsonNode d = JSON.readTree(json.out());
        assertThat(d).hasSize(HvmContextView.MAX_SHOWN + 1);
        assertThat(d.get(HvmContextView.MAX_SHOWN).at("/left_out/differences").asLong())
                .isEqualTo(entries - HvmContextView.MAX_SHOWN);
    }

    /** HEADER, one CPU_MSR record of {@code entries} MSRs (index i, value i + {@code plus}), END. */
    static byte[] withMsrs(int entries, long plus) {
        byte[] header = java.util.Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 32);
        int body = 8 + 16 * entries;
        ByteBuffer b = ByteBuffer.allocate(32 + 8 + body + 8).order(ByteOrder.LITTLE_ENDIAN).put(header);
        b.putShort((short) 20).putShort((short) 0).putInt(body); // HVM_SAVE_CODE(CPU_MSR) = 20
        b.putInt(entries).putInt(0);
        for (int i = 0; i < entries; i++) {
            b.putInt(0xc0000000 + i).putInt(0).putLong(i + plus);
        }
        return b.putLong(0).array();
    }

    /** HEADER, END, then {@code tail}. */
    static byte[] withTail(byte[] tail) {
        byte[] header = java.util.Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 32);
        return ByteBuffer.allocate(32 + 8 + tail.length).put(header).putLong(0).put(tail).array();
    }
}
