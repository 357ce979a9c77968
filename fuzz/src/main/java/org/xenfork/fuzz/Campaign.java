package org.xenfork.fuzz;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.xenfork.fork.StopRequest;

/**
 * The fuzz loop over a {@link Fuzzer}: inputs from a {@link Mutator}, run one by one until the
 * iteration count or the time is up or a stop is requested; crashes and hangs saved to
 * {@link Findings} (or not, without them); a status now and then. Nothing is printed or allocated
 * per iteration here beyond what the mutator and the fuzzer do, so a benchmark can time the loop.
 *
 * <pre>{@code
 * Campaign.Summary s = Campaign.run(fuzzer, new HavocMutator(seeds, size, 42),
 *         Campaign.Limits.iterations(100_000), Findings.in(out), stop,
 *         new Campaign.Status(Duration.ofSeconds(5), p -> System.err.println(p)));
 * }</pre>
 */
public final class Campaign {

    private Campaign() {
    }

    /**
     * When a run ends: after {@code iterations} inputs (0: no bound) or {@code time} (null: no bound),
     * whichever comes first; a stop request ends it in any case.
     */
    public record Limits(long iterations, Duration time) {
        public Limits {
            if (iterations < 0) {
                throw new IllegalArgumentException("iterations must be 0 (no bound) or more, not " + iterations);
            }
            if (time != null && time.isNegative()) {
                throw new IllegalArgumentException("a run's time cannot be negative: " + time);
            }
        }

        /** Until {@code n} inputs have run. */
        public static Limits iterations(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("at least 1 iteration, not " + n);
            }
            return new Limits(n, null);
        }

        /** Until stopped. */
        public static Limits none() {
            return new Limits(0, null);
        }
    }

    /** Counts so far. */
    public record Progress(long iterations, long crashes, long hangs, long elapsedNanos) {
        public double elapsedSeconds() {
            return elapsedNanos / 1e9;
        }

        /** Iterations per second so far (0 before any time has passed). */
        public double perSecond() {
            return elapsedNanos <= 0 ? 0 : iterations * 1e9 / elapsedNanos;
        }
    }

    /** A status every {@code every}, to {@code sink}; {@link #NONE} for none. */
    public record Status(Duration every, Consumer<Progress> sink) {
        public static final Status NONE = new Status(Duration.ofDays(365), p -> { });
    }

    /**
     * How a run ended: its counts, the files saved (crashes and hangs, new ones only, in order) and
     * whether a stop request ended it. {@code crashes} and {@code hangs} count iterations, so the same
     * crash found twice counts twice but is saved once.
     */
    public record Summary(Progress progress, List<Path> crashFiles, List<Path> hangFiles, boolean stopped) {
        public Summary {
            crashFiles = List.copyOf(crashFiles);
            hangFiles = List.copyOf(hangFiles);
        }
    }

    /**
     * Runs the loop. A stop interrupts the iteration in progress (its fork is left for
     * {@link Fuzzer#close}) and ends the run; the summary says {@code stopped}.
     *
     * @param findings where crashes and hangs go; null to keep none
     * @throws FuzzException if an iteration was refused, or a finding could not be saved
     */
    public static Summary run(Fuzzer fuzzer, Mutator mutator, Limits limits, Findings findings, StopRequest stop,
                              Status status) {
        long start = System.nanoTime();
        long end = limits.time() == null ? Long.MAX_VALUE : start + limits.time().toNanos();
        long nextStatus = start + status.every().toNanos();
        long iterations = 0;
        long crashes = 0;
        long hangs = 0;
        List<Path> crashFiles = new ArrayList<>();
        List<Path> hangFiles = new ArrayList<>();
        boolean stopped = false;
        Thread self = Thread.currentThread();
        StopRequest.Registration wake = stop.onRequest(self::interrupt);
        try {
            while (limits.iterations() == 0 || iterations < limits.iterations()) {
                if (stop.requested()) {
                    stopped = true;
                    break;
                }
                long now = System.nanoTime();
                if (now - end >= 0) {
                    break;
                }
                if (now - nextStatus >= 0) {
                    status.sink().accept(new Progress(iterations, crashes, hangs, now - start));
                    nextStatus = now + status.every().toNanos();
                }
                byte[] input = mutator.next();
                Outcome o;
                try {
                    o = fuzzer.run(input);
                } catch (InterruptedException e) {
                    stopped = true;
                    break;
                }
                iterations++;
                switch (o.kind()) {
                    case CRASH -> {
                        crashes++;
                        if (findings != null) {
                            save(() -> findings.saveCrash(o.address(), input)).ifPresent(crashFiles::add);
                        }
                    }
                    case HANG -> {
                        hangs++;
                        if (findings != null) {
                            save(() -> findings.saveHang(input)).ifPresent(hangFiles::add);
                        }
                    }
                    default -> {
                    }
                }
                mutator.ran(input, o);
            }
        } finally {
            wake.close();
            Thread.interrupted(); // a stop's wake-up must not break the tear-down's I/O
        }
        stopped |= stop.requested();
        return new Summary(new Progress(iterations, crashes, hangs, System.nanoTime() - start), crashFiles, hangFiles,
                stopped);
    }

    private interface Save {
        Optional<Path> run() throws IOException;
    }

    private static Optional<Path> save(Save s) {
        try {
            return s.run();
        } catch (IOException e) {
            throw new FuzzException("saving a finding: " + e.getMessage(), e);
        }
    }
}
