package org.xenfork.fuzz;

/**
 * How one iteration ended: at the done breakpoint, at a crash breakpoint (its address, as the target
 * gave it: virtual with {@link FuzzTarget#virtual()}), or at none before the timeout (a hang).
 * {@link #DONE} and {@link #HANG} are single instances, and a {@link Fuzzer} makes one per crash
 * address, so an iteration allocates no outcome.
 */
public final class Outcome {
    /** What kind of ending. */
    public enum Kind { DONE, CRASH, HANG }

    public static final Outcome DONE = new Outcome(Kind.DONE, -1);
    public static final Outcome HANG = new Outcome(Kind.HANG, -1);

    private final Kind kind;
    private final long address;

    private Outcome(Kind kind, long address) {
        this.kind = kind;
        this.address = address;
    }

    /** A crash at {@code address}. */
    public static Outcome crash(long address) {
        return new Outcome(Kind.CRASH, address);
    }

    public Kind kind() {
        return kind;
    }

    /** The crash breakpoint's address; -1 for done and hang. */
    public long address() {
        return address;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Outcome other && other.kind == kind && other.address == address;
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + Long.hashCode(address);
    }

    @Override
    public String toString() {
        return kind == Kind.CRASH ? "crash at 0x" + Long.toHexString(address) : kind.name().toLowerCase(java.util.Locale.ROOT);
    }
}
