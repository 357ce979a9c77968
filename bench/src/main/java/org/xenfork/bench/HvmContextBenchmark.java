package org.xenfork.bench;

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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.FieldValue;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.hvmcontext.HvmRecord;
import org.xenfork.hvmcontext.HvmStreamIndex;
import org.xenfork.hvmcontext.RecordTypes;
import org.xenfork.testfixtures.HvmSamples;

/**
 * The HVM context codec on real streams captured from Xen 4.17 (docs/PERFORMANCE.md,
 * "HVM context codec"): the 4112-byte HVM guest (17 records and END) and the
 * 2504-byte PVH guest (10 and END).
 * <ul>
 *   <li>{@link #indexAndReach}: index the stream (every descriptor checked, nothing
 *       copied) and read the vCPU's {@code rip} from its CPU record: the fast path,
 *       goal 1 GB/s;</li>
 *   <li>{@link #parse}: the full parse into an {@code HvmContext} (one copy of the stream and an
 *       offset a record; HvmContextScaleBenchmark measures it against the record count);</li>
 *   <li>{@link #parseAndDecode}: parse, then decode every field of every record;</li>
 *   <li>{@link #serialise}: a parsed context back to bytes.</li>
 * </ul>
 * MB/s = stream bytes / (ns/op); ns/record = ns/op / (records + END). B/op with {@code -prof gc}.
 * Run: {@code java -jar bench/target/benchmarks.jar HvmContextBenchmark -prof gc}.
 * Not a test: nothing here runs under {@code mvn test}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// A fixed, pre-touched heap: on this VM the first touch of a page costs about 10 µs, and with the
// default heap G1 keeps handing out fresh pages to these allocating benchmarks, which then measure
// page faults, not the codec (docs/PERFORMANCE.md gives both).
@Fork(value = 2, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class HvmContextBenchmark {
    @Param({HvmSamples.HVM, HvmSamples.PVH})
    public String sample;

    private byte[] stream;
    private RecordTypes types;
    private int cpuCode;
    private Leaf rip;
    private HvmContext parsed;

    @Setup
    public void setUp() throws HvmContextException {
        stream = HvmSamples.bytes(sample);
        types = RecordTypes.forRelease(XenRelease.parse("4.17"));
        cpuCode = types.byName("CPU").orElseThrow().code();
        rip = types.byName("CPU").orElseThrow().layout().leaf("rip");
        parsed = HvmContext.parse(stream, types);
    }

    @Benchmark
    public long indexAndReach() throws HvmContextException {
        HvmStreamIndex ix = HvmStreamIndex.of(stream, types);
        return rip.read(stream, ix.bodyOffset(ix.find(cpuCode, 0)));
    }

    @Benchmark
    public HvmContext parse() throws HvmContextException {
        return HvmContext.parse(stream, types);
    }

    @Benchmark
    public void parseAndDecode(Blackhole bh) throws HvmContextException {
        for (HvmRecord r : HvmContext.parse(stream, types).records()) {
            for (FieldValue f : r.fields()) {
                bh.consume(f);
            }
        }
    }

    @Benchmark
    public byte[] serialise() {
        return parsed.serialise();
    }
}
