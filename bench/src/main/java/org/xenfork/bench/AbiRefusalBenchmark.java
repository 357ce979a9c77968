package org.xenfork.bench;

import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.xenfork.abi.Abi;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;

/**
 * What it costs the ABI to refuse hostile input, as one {@code abi encode --batch} line gets it
 * (docs/PERFORMANCE.md, "Refusing hostile ABI input"; issue 16 item 9, where a 1 MB struct name took
 * 32 s and a 900,000-digit value 16 s):
 * <ul>
 *   <li>{@link #typoStructName}: an unknown struct name of ordinary length, with its five nearest names;</li>
 *   <li>{@link #megabyteStructName}: a 1,000,000-character struct name;</li>
 *   <li>{@link #megabyteFieldName}: a 1,000,000-character field path in {@code xen_domctl};</li>
 *   <li>{@link #hugeValue}: a 900,000-digit value for a 32-bit field.</li>
 * </ul>
 * Each builds its input string afresh from characters, as a batch line arrives (a string kept
 * between calls would keep its hash code, and the lookup would cost nothing), and returns the
 * refusal's message. Run: {@code java -jar bench/target/benchmarks.jar AbiRefusalBenchmark}.
 * Not a test: nothing here runs under {@code mvn test}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class AbiRefusalBenchmark {
    private Abi abi;
    private StructLayout domctl;
    private StructLayout maxVcpus;
    private char[] hugeName;
    private char[] hugeDigits;

    @Setup
    public void setUp() {
        abi = Abi.forRelease(XenRelease.parse("4.17"));
        domctl = abi.struct("xen_domctl");
        maxVcpus = abi.struct("xen_domctl_max_vcpus");
        hugeName = "x".repeat(1_000_000).toCharArray();
        hugeDigits = "9".repeat(900_000).toCharArray();
    }

    /** The floor under the two megabyte-name figures: making the 1,000,000-character string itself. */
    @Benchmark
    public String megabyteStringOnly() {
        return new String(hugeName);
    }

    @Benchmark
    public String typoStructName() {
        return refusal(() -> abi.struct("xen_domctl_createdomian"));
    }

    @Benchmark
    public String megabyteStructName() {
        return refusal(() -> abi.struct(new String(hugeName)));
    }

    @Benchmark
    public String megabyteFieldName() {
        return refusal(() -> StructCodec.encode(domctl, Map.of(new String(hugeName), "1")));
    }

    @Benchmark
    public String hugeValue() {
        return refusal(() -> StructCodec.encode(maxVcpus, Map.of("max", new String(hugeDigits))));
    }

    private static String refusal(Runnable r) {
        try {
            r.run();
        } catch (AbiException e) {
            return e.getMessage();
        }
        throw new IllegalStateException("the input was accepted");
    }
}
