package org.xenfork.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.xenfork.abi.XenRelease;
import org.xenfork.cli.Main;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.hvmcontext.HvmDiff;
import org.xenfork.testfixtures.HvmSamples;

/**
 * {@code hvm-context show} and {@code diff} against the number of records (docs/PERFORMANCE.md,
 * "HVM context show and diff at scale", issue 16): streams of HEADER and 1,000, 100,000 or
 * 1,000,000 TSC_ADJUST records (8-byte bodies, 16 bytes a record: 16 MB at a million, under the
 * command line's 64 MiB limit), run as a user runs them, {@code Main.run} on files, stdout
 * thrown away:
 * <ul>
 *   <li>{@link #parse}: {@code HvmContext.parse} alone (the library);</li>
 *   <li>{@link #show}: {@code xenfork hvm-context show FILE} (read, parse, a line per record and field);</li>
 *   <li>{@link #showJson}: {@code xenfork --json hvm-context show FILE};</li>
 *   <li>{@link #diff}: {@code xenfork hvm-context diff A B}, B with every 16th record's value changed;</li>
 *   <li>{@link #diffTails}: {@code HvmDiff.each} of two streams whose tails after END (as long as the
 *       records would be) differ in every other byte: the input of issue 16 item 3.</li>
 * </ul>
 * Linear means ns/op and B/op grow by 100x and 10x from one size to the next, i.e. ns/record and
 * B/record stay flat. Not a test: nothing here runs under {@code mvn test}.
 * Run: {@code java -jar bench/target/benchmarks.jar HvmContextScaleBenchmark -prof gc}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
// A fixed, pre-touched heap as in HvmContextBenchmark (page faults, not the code, otherwise); 2 GB for the
// million-record streams' garbage.
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g", "-XX:+AlwaysPreTouch"})
public class HvmContextScaleBenchmark {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");
    /** HVM_SAVE_CODE(TSC_ADJUST), one 8-byte tsc_adjust a vCPU. */
    private static final int TSC_ADJUST = 19;

    @Param({"1000", "100000", "1000000"})
    public int records;

    private Path dir;
    private Path fileA;
    private Path fileB;
    private byte[] streamA;
    private HvmContext tailA;
    private HvmContext tailB;
    private final PrintWriter discard = new PrintWriter(Writer.nullWriter());

    @Setup
    public void setUp() throws IOException, HvmContextException {
        dir = Files.createTempDirectory("hvm-scale");
        streamA = stream(records, 0);
        fileA = Files.write(dir.resolve("a.bin"), streamA);
        fileB = Files.write(dir.resolve("b.bin"), stream(records, 16));
        int tail = 16 * records;
        byte[] other = new byte[tail];
        for (int i = 0; i < tail; i += 2) {
            other[i] = 1;
        }
        tailA = HvmContext.parse(withTail(new byte[tail]), XEN_4_17);
        tailB = HvmContext.parse(withTail(other), XEN_4_17);
        // the commands must work, or the benchmark measures an error message
        check(Main.run(discard, discard, "hvm-context", "show", fileA.toString()));
        check(Main.run(discard, discard, "hvm-context", "diff", fileA.toString(), fileB.toString()));
    }

    @TearDown
    public void tearDown() throws IOException {
        Files.deleteIfExists(fileA);
        Files.deleteIfExists(fileB);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public HvmContext parse() throws HvmContextException {
        return HvmContext.parse(streamA, XEN_4_17);
    }

    @Benchmark
    public int show() {
        return Main.run(discard, discard, "hvm-context", "show", fileA.toString());
    }

    @Benchmark
    public int showJson() {
        return Main.run(discard, discard, "--json", "hvm-context", "show", fileA.toString());
    }

    @Benchmark
    public int diff() {
        return Main.run(discard, discard, "hvm-context", "diff", fileA.toString(), fileB.toString());
    }

    @Benchmark
    public long diffTails() {
        return HvmDiff.each(tailA, tailB, d -> { });
    }

    /**
     * HEADER (the real 4.17 sample's), {@code n} TSC_ADJUST records (instance = index mod 65536, value =
     * index), END. With {@code every} > 0, every {@code every}-th record's value is changed.
     */
    static byte[] stream(int n, int every) {
        byte[] header = Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 32);
        ByteBuffer b = ByteBuffer.allocate(32 + 16 * n + 8).order(ByteOrder.LITTLE_ENDIAN).put(header);
        for (int i = 0; i < n; i++) {
            b.putShort((short) TSC_ADJUST).putShort((short) i).putInt(8).putLong(every > 0 && i % every == 0 ? i + 1_000_000_000L : i);
        }
        return b.putLong(0).array();
    }

    /** HEADER, END, then {@code tail}. */
    static byte[] withTail(byte[] tail) {
        byte[] header = Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 32);
        return ByteBuffer.allocate(32 + 8 + tail.length).put(header).putLong(0).put(tail).array();
    }

    private static void check(int exit) {
        if (exit != Main.EXIT_OK) {
            throw new IllegalStateException("xenfork hvm-context exited " + exit + " on the benchmark's own stream");
        }
    }
}
