package org.xenfork.testfixtures;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * The one way the project's fuzz tests size a run and bound each case.
 *
 * <p>How many cases: each fuzz test names the few thousand it runs in {@code mvn verify}; the
 * {@code nightly-fuzz} Maven profile (root pom) sets {@value #CASES} to 100,000 or more for every
 * fuzz test at once, and {@code -Dxenfork.fuzz.cases=N} sets it by hand. {@value #SEED} changes
 * every test's seed, so a failure's seed can be replayed.
 *
 * <p>What one case may cost: a fuzz case that returns still fails if it took longer than its time
 * CPU-time budget or allocated more than its heap budget, both counted on the calling thread by
 * the JVM (so a loaded two-core CI machine does not make a case look slow), since input that makes
 * a parser slow or greedy is an attack too. A case that never returns is caught by the test's own
 * {@code @Timeout}.
 *
 * <pre>{@code
 * FuzzBudget budget = new FuzzBudget(Duration.ofMillis(200), 16 << 20);
 * for (int n = 0; n < FuzzBudget.cases(3_000); n++) {
 *     byte[] input = mutate(random);
 *     budget.run(() -> "case " + n + ": " + hex(input), () -> parseOrRefuse(input));
 * }
 * }</pre>
 */
public final class FuzzBudget {
    /** The system property that overrides every fuzz test's case count. */
    public static final String CASES = "xenfork.fuzz.cases";
    /** The system property that overrides every fuzz test's seed. */
    public static final String SEED = "xenfork.fuzz.seed";

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private final long maxNanos;
    private final long maxBytes;

    /**
     * @param perCase  the most CPU time one case may take on the calling thread
     * @param maxBytes the most one case may allocate on the calling thread
     */
    public FuzzBudget(Duration perCase, long maxBytes) {
        if (perCase.isNegative() || perCase.isZero() || maxBytes <= 0) {
            throw new IllegalArgumentException("a fuzz budget needs a positive time and byte limit");
        }
        this.maxNanos = perCase.toNanos();
        this.maxBytes = maxBytes;
        THREADS.setThreadAllocatedMemoryEnabled(true);
        THREADS.setThreadCpuTimeEnabled(true);
    }

    /** The number of cases to run: {@value #CASES} if set to a positive number, else {@code inVerify}. */
    public static int cases(int inVerify) {
        String set = System.getProperty(CASES, "").trim();
        if (set.isEmpty()) {
            return inVerify;
        }
        try {
            int n = Integer.parseInt(set);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // falls through to the error below
        }
        throw new IllegalArgumentException("-D" + CASES + "=" + set + ": give a positive number of cases");
    }

    /** The seed to use: {@value #SEED} (decimal or 0x hex) if set, else {@code fixed}. */
    public static long seed(long fixed) {
        String set = System.getProperty(SEED, "").trim();
        if (set.isEmpty()) {
            return fixed;
        }
        try {
            return set.startsWith("0x") ? Long.parseUnsignedLong(set.substring(2), 16) : Long.parseLong(set);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + SEED + "=" + set + ": give a decimal or 0x hex seed", e);
        }
    }

    /** A task that may throw anything; what it throws reaches the caller unchanged. */
    @FunctionalInterface
    public interface Case {
        void run() throws Exception;
    }

    /**
     * Runs one case; rethrows what it throws, and fails with {@code describe} (the seed, the case number, the
     * input) if it returned over budget.
     */
    public void run(Supplier<String> describe, Case body) throws Exception {
        long thread = Thread.currentThread().getId();
        long bytes = THREADS.getThreadAllocatedBytes(thread);
        long started = THREADS.getCurrentThreadCpuTime();
        body.run();
        long took = THREADS.getCurrentThreadCpuTime() - started;
        long allocated = THREADS.getThreadAllocatedBytes(thread) - bytes;
        if (took > maxNanos) {
            throw new AssertionError("one fuzz case took " + took / 1_000_000 + " ms of CPU, over its budget of "
                    + maxNanos / 1_000_000 + " ms: " + describe.get());
        }
        if (allocated > maxBytes) {
            throw new AssertionError("one fuzz case allocated " + allocated + " bytes, over its budget of " + maxBytes
                    + ": " + describe.get());
        }
    }
}
