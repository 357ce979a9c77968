package org.xenfork.bench;

import java.util.Arrays;

/**
 * The {@code BENCH name=… n=… median_us=…} lines the whole-loop probes print (RigForkRate,
 * RigMapRate, QmpLatency), in the rig's C probe xcbench's format, so a round of Java and C
 * lines reads as one table.
 */
final class BenchLines {
    private BenchLines() {
    }

    /** Median, p10, p90, min and max of {@code ns} in µs, one decimal. */
    static void report(String name, long[] ns) {
        long[] s = sorted(ns);
        System.out.printf("BENCH name=%s n=%d median_us=%.1f p10_us=%.1f p90_us=%.1f min_us=%.1f max_us=%.1f%n", name,
                s.length, pct(s, 0.5), pct(s, 0.1), pct(s, 0.9), s[0] / 1e3, s[s.length - 1] / 1e3);
    }

    /** As {@link #report}, two decimals and the mean: for steps of a few µs. */
    static void reportFine(String name, long[] ns) {
        long[] s = sorted(ns);
        double sum = 0;
        for (long v : s) {
            sum += v;
        }
        System.out.printf("BENCH name=%s n=%d median_us=%.2f p10_us=%.2f p90_us=%.2f min_us=%.2f max_us=%.2f"
                + " mean_us=%.2f%n", name, s.length, pct(s, 0.5), pct(s, 0.1), pct(s, 0.9), s[0] / 1e3,
                s[s.length - 1] / 1e3, sum / s.length / 1e3);
    }

    /** The median of {@code ns}, in ns. */
    static double median(long[] ns) {
        return pct(sorted(ns), 0.5) * 1e3;
    }

    private static long[] sorted(long[] ns) {
        long[] s = ns.clone();
        Arrays.sort(s);
        return s;
    }

    /** Percentile interpolated between ranks, in µs (xcbench's way). */
    private static double pct(long[] sorted, double p) {
        double rank = p * (sorted.length - 1);
        int lo = (int) Math.floor(rank);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return (sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo])) / 1e3;
    }
}
