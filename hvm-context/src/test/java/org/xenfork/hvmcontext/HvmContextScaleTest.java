package org.xenfork.hvmcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.xenfork.abi.XenRelease;
import org.xenfork.testfixtures.FuzzBudget;

/**
 * Streams as large as an attacker may make them (issue 16, items 3 and 4), with
 * {@link FuzzBudget}'s CPU and allocation bounds standing in for "linear" and "a
 * few times the stream's size": each bound is far above what the linear code
 * needs and far below what the quadratic or copying code it replaced took.
 * Speed itself is measured by bench's HvmContextScaleBenchmark, not here.
 */
class HvmContextScaleTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    /** HEADER, then {@code n} CPU records with no body (a zero-extended CPU record may be empty), then END. */
    static byte[] emptyRecords(int n) {
        Streams s = Streams.withHeader();
        for (int i = 0; i < n; i++) {
            s.record(Streams.CPU, i & 0xffff, new byte[0]);
        }
        return s.end().toBytes();
    }

    /** HEADER, END, then {@code tail} bytes. */
    static byte[] withTail(byte[] tail) {
        return Streams.withHeader().end().bytes(tail).toBytes();
    }

    /**
     * Issue 16 item 4: 100,001 records (800 KB) took 34 s to show, since the offset of each record summed
     * the lengths of all before it. Now parse keeps each offset as it finds it: parsing allocates the
     * stream's copy and one int per record (no object or copy per record), and reading every record's offset, label
     * and fields as show does is a walk of the stream.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aHundredThousandAndOneRecordsParseAndShowInOneWalk() throws Exception {
        byte[] stream = emptyRecords(100_000);
        assertThat(stream.length).isEqualTo(800_040);
        HvmContext.parse(stream, XEN_4_17); // the classes and layouts, loaded once per process: not the budget's
        HvmContext[] ctx = {null};
        // the copy (800 KB) and the offsets (4 bytes a record, 400 KB): 1.5 times the stream
        new FuzzBudget(Duration.ofSeconds(2), 2L * stream.length).run(() -> "parse of 100,001 records",
                () -> ctx[0] = HvmContext.parse(stream, XEN_4_17));
        long[] sum = {0};
        new FuzzBudget(Duration.ofSeconds(2), 200L * stream.length).run(() -> "every record's offset, label, fields",
                () -> {
                    List<HvmRecord> records = ctx[0].records();
                    for (int i = 0; i < records.size(); i++) {
                        HvmRecord r = records.get(i);
                        sum[0] += ctx[0].offsetOf(i) + r.label().length();
                        r.forEachField(f -> sum[0]++);
                    }
                });
        assertThat(ctx[0].records()).hasSize(100_001);
        assertThat(ctx[0].offsetOf(100_000)).isEqualTo(32 + 99_999 * 8);
        assertThat(ctx[0].offsetOf(100_001)).as("END").isEqualTo(32 + 100_000 * 8);
        assertThat(sum[0]).isPositive();
    }

    /**
     * Issue 16 item 3: two streams with 60 MB of differing bytes after END ran diff out of memory (a hex
     * string of every run), and 8 MB tails gave 4.2 million lines. The reproducer's worst case: every other
     * byte differs, 31 million runs. Now: {@link HvmDiff#MAX_RUNS} runs, one summary of the rest, nothing
     * copied (the diff allocates a few KB, the tails stay where they are).
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void sixtyMegabytesOfDifferingTailsDiffInBoundedOutputAndHeap() throws Exception {
        int size = 60 << 20;
        byte[] tailA = new byte[size];
        byte[] tailB = new byte[size];
        for (int i = 0; i < size; i += 2) {
            tailB[i] = (byte) (1 + i % 255);
        }
        HvmContext a = HvmContext.parse(withTail(tailA), XEN_4_17);
        HvmContext b = HvmContext.parse(withTail(tailB), XEN_4_17);
        List<HvmDiff.Difference> out = new ArrayList<>(); // the first hundred: an unbounded diff is counted, not kept
        long[] count = {0};
        long[] chars = {0};
        new FuzzBudget(Duration.ofSeconds(10), 1 << 20).run(() -> "diff of two 60 MB tails", () -> HvmDiff.each(a, b, d -> {
            if (++count[0] <= 100) {
                out.add(d);
                chars[0] += d.toString().length();
            }
        }));
        assertThat(count[0]).isEqualTo(HvmDiff.MAX_RUNS + 1);
        assertThat(out.get(0).toString()).isEqualTo("END instance 0: trailing[0] 00 -> 01");
        assertThat(out.get(HvmDiff.MAX_RUNS).toString()).isEqualTo("END instance 0: trailing[128..62914558] "
                + (size / 2 - HvmDiff.MAX_RUNS) + " more runs of differing bytes (" + (size / 2 - HvmDiff.MAX_RUNS)
                + " bytes) left out");
        assertThat(out.get(HvmDiff.MAX_RUNS).leftOut()).isEqualTo(new HvmDiff.LeftOut(size / 2 - 64, size / 2 - 64));
        assertThat(chars[0]).isLessThan(8 << 10);
    }

    /** The other shape of item 3: one side's tail is 60 MB longer, one run whose hex is cut. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aTailOnOneSideIsOneRunWithItsHexCut() throws Exception {
        HvmContext a = HvmContext.parse(withTail(new byte[0]), XEN_4_17);
        HvmContext b = HvmContext.parse(withTail(new byte[60 << 20]), XEN_4_17);
        List<HvmDiff.Difference> out = new ArrayList<>();
        new FuzzBudget(Duration.ofSeconds(2), 1 << 20).run(() -> "diff against a 60 MB tail", () -> HvmDiff.each(a, b, out::add));
        assertThat(out).extracting(HvmDiff.Difference::toString).containsExactly(
                "END instance 0: trailing[0..62914559] (absent) -> " + "00".repeat(HvmDiff.MAX_HEX_BYTES) + "...(62914560 bytes)");
    }

    /**
     * A CPU_MSR record as long as a 16 MB stream makes it (a million entries, three fields each): diffed where
     * it lies, with no field value or path made for the entries that are the same.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aMillionMsrEntriesDifferInOneField() throws Exception {
        int entries = 1 << 20;
        long[] pairs = new long[2 * entries];
        for (int i = 0; i < entries; i++) {
            pairs[2 * i] = i;
            pairs[2 * i + 1] = i * 7L;
        }
        HvmContext a = HvmContext.parse(Streams.withHeader().record(Streams.CPU_MSR, 0, Streams.msrs(entries, pairs)).end()
                .toBytes(), XEN_4_17);
        HvmContext b = a.withField("CPU_MSR", 0, "msr[999999].val", BigInteger.ONE);
        List<HvmDiff.Difference> out = new ArrayList<>();
        new FuzzBudget(Duration.ofSeconds(5), 1 << 20).run(() -> "diff of two million-entry CPU_MSR records",
                () -> HvmDiff.each(a, b, out::add));
        assertThat(out).extracting(HvmDiff.Difference::toString)
                .containsExactly("CPU_MSR vcpu 0: msr[999999].val 0x6acfb9 -> 0x1");
    }
}
