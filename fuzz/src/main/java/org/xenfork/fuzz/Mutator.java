package org.xenfork.fuzz;

/**
 * Where a fuzz loop's inputs come from. {@link HavocMutator} is the one xenfork brings; a Java
 * program can bring its own (a grammar, a corpus replay, feedback from coverage it measures itself).
 *
 * <pre>{@code
 * Mutator mine = new Mutator() {
 *     private final SplittableRandom random = new SplittableRandom(7);
 *     public byte[] next() {
 *         byte[] in = new byte[16];
 *         in[0] = (byte) random.nextInt(256);
 *         return in;
 *     }
 * };
 * Campaign.run(fuzzer, mine, Campaign.Limits.iterations(10_000), null, stop, Campaign.Status.NONE);
 * }</pre>
 *
 * <p>An input longer than the target's input size is cut to it when written ({@link Fuzzer#run}); the
 * rest of the input buffer is zero. Not called from more than one thread.
 */
public interface Mutator {

    /** The next input to run; the caller may keep it (as a crash file), so return a fresh array. */
    byte[] next();

    /** What {@code input} (the array {@link #next} returned) came to; for mutators that learn. Nothing by default. */
    default void ran(byte[] input, Outcome outcome) {
    }
}
