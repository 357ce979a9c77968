package org.xenfork.fuzz;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A havoc mutator in the manner of AFL's havoc stage: each seed is run once as it is, then every input
 * is a seed picked at random with a stack of 1 to {@value #MAX_STACK} random mutations: bit flips,
 * byte changes, interesting 8-, 16- and 32-bit values (either byte order), small additions and
 * subtractions (up to {@value #ARITH_MAX}), blocks deleted, inserted or overwritten (with bytes of the
 * input itself or one repeated byte), and splices of two seeds (one's start, the other's end).
 *
 * <pre>{@code
 * Mutator m = new HavocMutator(List.of(seed), 64, 42);   // inputs of at most 64 bytes, random seed 42
 * byte[] first = m.next();                                 // the seed itself
 * byte[] second = m.next();                                // a mutation of it
 * }</pre>
 *
 * <p>Deterministic: the same seeds, size and random seed give the same inputs in the same order
 * ({@link SplittableRandom}). No input is longer than {@code maxSize} (seeds longer than it are cut
 * to it); an input may be empty only if a deletion made it so. Without seeds the one seed is
 * {@code maxSize} zero bytes. Not thread-safe.
 */
public final class HavocMutator implements Mutator {
    /** The most mutations stacked on one input. */
    public static final int MAX_STACK = 16;
    /** The largest value added or subtracted. */
    public static final int ARITH_MAX = 35;
    /** Seeds one mutator holds. */
    public static final int MAX_SEEDS = 4096;

    // AFL's interesting values (config.h): boundaries and off-by-ones of signed and unsigned types.
    private static final byte[] INTERESTING_8 = {-128, -1, 0, 1, 16, 32, 64, 100, 127};
    private static final short[] INTERESTING_16 = {-32768, -129, 128, 255, 256, 512, 1000, 1024, 4096, 32767};
    private static final int[] INTERESTING_32 = {Integer.MIN_VALUE, -100663046, -32769, 32768, 65535, 65536,
        100663045, Integer.MAX_VALUE};
    private static final int OPERATIONS = 12;

    private final List<byte[]> seeds;
    private final int maxSize;
    private final SplittableRandom random;
    private final byte[] work;
    private int length;
    private int replayed;

    /**
     * @param seeds      the inputs to start from (copied; cut to {@code maxSize}); empty: one of {@code maxSize} zero bytes
     * @param maxSize    the longest input, at least 1 (the target's input size)
     * @param randomSeed the {@link SplittableRandom}'s seed: the same one gives the same inputs
     */
    public HavocMutator(List<byte[]> seeds, int maxSize, long randomSeed) {
        if (maxSize < 1 || maxSize > FuzzTarget.MAX_INPUT_SIZE) {
            throw new IllegalArgumentException("the input size must be 1 to " + FuzzTarget.MAX_INPUT_SIZE + " bytes, not "
                    + maxSize);
        }
        if (seeds.size() > MAX_SEEDS) {
            throw new IllegalArgumentException(seeds.size() + " seeds: at most " + MAX_SEEDS);
        }
        List<byte[]> copies = new ArrayList<>();
        for (byte[] s : seeds) {
            copies.add(Arrays.copyOf(s, Math.min(s.length, maxSize)));
        }
        if (copies.isEmpty()) {
            copies.add(new byte[maxSize]);
        }
        this.seeds = List.copyOf(copies);
        this.maxSize = maxSize;
        this.random = new SplittableRandom(randomSeed);
        this.work = new byte[maxSize];
    }

    /** The seeds as this mutator holds them (cut to the size), in order. */
    public List<byte[]> seeds() {
        return seeds.stream().map(byte[]::clone).toList();
    }

    @Override
    public byte[] next() {
        if (replayed < seeds.size()) {
            return seeds.get(replayed++).clone();
        }
        int base = random.nextInt(seeds.size());
        byte[] seed = seeds.get(base);
        System.arraycopy(seed, 0, work, 0, seed.length);
        length = seed.length;
        int stack = 1 << random.nextInt(1, 5); // 2, 4, 8 or 16, as AFL's 1 << (1 + UR(HAVOC_STACK_POW2))
        stack = Math.min(stack, MAX_STACK);
        for (int i = 0; i < stack; i++) {
            mutate(base);
        }
        return Arrays.copyOf(work, length);
    }

    /** One mutation of {@code work[0, length)}; one that does not fit the input is drawn again. */
    private void mutate(int base) {
        while (!tryMutate(random.nextInt(OPERATIONS), base)) {
            // e.g. a 32-bit value into a 3-byte input, a deletion from an empty one: draw again
        }
    }

    private boolean tryMutate(int op, int base) {
        switch (op) {
            case 0 -> { // flip one bit
                if (length < 1) {
                    return false;
                }
                int bit = random.nextInt(length * 8);
                work[bit >>> 3] ^= (byte) (0x80 >>> (bit & 7));
            }
            case 1 -> { // change one byte to another value
                if (length < 1) {
                    return false;
                }
                work[random.nextInt(length)] ^= (byte) random.nextInt(1, 256);
            }
            case 2 -> { // an interesting byte
                if (length < 1) {
                    return false;
                }
                work[random.nextInt(length)] = INTERESTING_8[random.nextInt(INTERESTING_8.length)];
            }
            case 3 -> { // an interesting 16-bit value
                if (length < 2) {
                    return false;
                }
                put(random.nextInt(length - 1), INTERESTING_16[random.nextInt(INTERESTING_16.length)], 2);
            }
            case 4 -> { // an interesting 32-bit value
                if (length < 4) {
                    return false;
                }
                put(random.nextInt(length - 3), INTERESTING_32[random.nextInt(INTERESTING_32.length)], 4);
            }
            case 5, 6, 7 -> { // add or subtract a small number to an 8-, 16- or 32-bit value
                int width = 1 << (op - 5);
                if (length < width) {
                    return false;
                }
                int at = random.nextInt(length - width + 1);
                int delta = random.nextInt(1, ARITH_MAX + 1) * (random.nextBoolean() ? 1 : -1);
                boolean big = random.nextBoolean();
                put(at, get(at, width, big) + delta, width, big);
            }
            case 8 -> { // delete a block
                if (length < 2) {
                    return false;
                }
                int n = blockLength(length - 1);
                int at = random.nextInt(length - n + 1);
                System.arraycopy(work, at + n, work, at, length - at - n);
                length -= n;
            }
            case 9 -> { // insert a block: bytes of the input itself, or one byte repeated
                if (length >= maxSize) {
                    return false;
                }
                int n = blockLength(maxSize - length);
                int at = random.nextInt(length + 1);
                System.arraycopy(work, at, work, at + n, length - at);
                fill(at, n, length, at);
                length += n;
            }
            case 10 -> { // overwrite a block
                if (length < 2) {
                    return false;
                }
                int n = blockLength(length - 1);
                int at = random.nextInt(length - n + 1);
                fill(at, n, length, -1);
            }
            default -> { // splice: this input's start, another seed's end
                if (seeds.size() < 2 || length < 2) {
                    return false;
                }
                int other = random.nextInt(seeds.size() - 1);
                byte[] with = seeds.get(other >= base ? other + 1 : other);
                int limit = Math.min(length, with.length);
                if (limit < 2) {
                    return false;
                }
                int split = random.nextInt(1, limit);
                int n = Math.min(with.length, maxSize) - split;
                System.arraycopy(with, split, work, split, n);
                length = split + n;
            }
        }
        return true;
    }

    /**
     * Fills {@code work[at, at + n)} with a copy of {@code n} bytes of the input (taken from before the
     * insertion point {@code hole} when inserting, so the block is the input's own) or, one time in
     * four, one byte repeated.
     */
    private void fill(int at, int n, int oldLength, int hole) {
        if (random.nextInt(4) == 0 || oldLength < n) {
            boolean own = oldLength > 0 && hole < 0 && random.nextBoolean();
            Arrays.fill(work, at, at + n, own ? work[random.nextInt(oldLength)] : (byte) random.nextInt(256));
            return;
        }
        int from = random.nextInt(oldLength - n + 1);
        if (hole >= 0 && from + n > hole) { // the bytes after the hole have moved up by n
            byte[] copy = new byte[n];
            for (int i = 0; i < n; i++) {
                int src = from + i;
                copy[i] = work[src < hole ? src : src + n];
            }
            System.arraycopy(copy, 0, work, at, n);
        } else {
            System.arraycopy(work, from, work, at, n);
        }
    }

    /** A block length from 1 to {@code limit}, mostly short (AFL's choose_block_len: small, medium, large). */
    private int blockLength(int limit) {
        int upper = switch (random.nextInt(3)) {
            case 0 -> 32;
            case 1 -> 128;
            default -> random.nextInt(10) == 0 ? 32768 : 1500;
        };
        return random.nextInt(1, Math.min(limit, upper) + 1);
    }

    private void put(int at, long value, int width) {
        put(at, value, width, random.nextBoolean());
    }

    private void put(int at, long value, int width, boolean bigEndian) {
        for (int i = 0; i < width; i++) {
            int shift = 8 * (bigEndian ? width - 1 - i : i);
            work[at + i] = (byte) (value >>> shift);
        }
    }

    private long get(int at, int width, boolean bigEndian) {
        long v = 0;
        for (int i = 0; i < width; i++) {
            int shift = 8 * (bigEndian ? width - 1 - i : i);
            v |= (work[at + i] & 0xffL) << shift;
        }
        return v;
    }
}
