package org.xenfork.fuzz;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import org.xenfork.privcmd.Domid;
import org.xenfork.vmi.Breakpoints;

/**
 * What to fuzz: the parent domain, where its input buffer is and how long, where "done" and "crash"
 * are, and how an iteration is run. Checked when made: every rule here holds for any domain.
 *
 * <pre>{@code
 * FuzzTarget t = FuzzTarget.physical(5, 0x200000, 64, 0x100020, List.of(0x100010L))
 *         .withTimeout(Duration.ofMillis(500));
 * }</pre>
 *
 * @param parent       the domain to fork: paused where it is about to read the input, or, with
 *                     {@code startCpuidLeaf}, running towards a CPUID of that leaf
 * @param inputAddress where the input buffer starts (guest-physical, or guest-virtual with {@code virtual})
 * @param inputSize    the buffer's length, 1 to {@link #MAX_INPUT_SIZE}: every iteration writes all of it
 * @param done         the breakpoint that means the input ran through
 * @param crashes      the breakpoints that mean a crash (1 to {@code Breakpoints.MAX - 1}, none equal to {@code done})
 * @param virtual      every address is guest-virtual, translated once through the parent's vCPU 0 page tables
 * @param instruction  the breakpoint instruction (ICEBP by default: docs/VMI.md, "Breakpoint instructions")
 * @param timeout      how long an iteration may run before it is a hang ({@link #MIN_TIMEOUT} to {@link #MAX_TIMEOUT})
 * @param startCpuidLeaf run the parent until it executes CPUID with this leaf (KF/x's harness signal), or empty
 */
public record FuzzTarget(int parent, long inputAddress, int inputSize, long done, List<Long> crashes, boolean virtual,
                         Breakpoints.Instruction instruction, Duration timeout, OptionalLong startCpuidLeaf) {
    /** The largest input buffer: 1 MiB (257 pages mapped per iteration at most). */
    public static final int MAX_INPUT_SIZE = 1 << 20;
    public static final Duration MIN_TIMEOUT = Duration.ofMillis(1);
    public static final Duration MAX_TIMEOUT = Duration.ofHours(1);
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(1);
    /** The end of x86-64's 52-bit guest-physical address space. */
    static final long PHYSICAL_LIMIT = 1L << 52;

    public FuzzTarget {
        if (parent <= 0 || parent >= Domid.FIRST_RESERVED) {
            throw new IllegalArgumentException("the parent must be a domain 1 to " + (Domid.FIRST_RESERVED - 1) + ", not "
                    + parent);
        }
        if (inputSize < 1 || inputSize > MAX_INPUT_SIZE) {
            throw new IllegalArgumentException("the input size must be 1 to " + MAX_INPUT_SIZE + " bytes (1 MiB), not "
                    + inputSize);
        }
        crashes = List.copyOf(crashes);
        if (crashes.isEmpty()) {
            throw new IllegalArgumentException("no crash address: give at least one");
        }
        if (crashes.size() + 1 > Breakpoints.MAX) {
            throw new IllegalArgumentException(crashes.size() + " crash addresses: at most " + (Breakpoints.MAX - 1));
        }
        if (new LinkedHashSet<>(crashes).size() != crashes.size()) {
            throw new IllegalArgumentException("a crash address is given twice: " + hexes(duplicates(crashes)));
        }
        if (crashes.contains(done)) {
            throw new IllegalArgumentException("the crash address " + hex(done) + " is the done address too: an input"
                    + " cannot both finish and crash there; give different addresses");
        }
        if (instruction == null) {
            throw new IllegalArgumentException("no breakpoint instruction");
        }
        if (timeout == null || timeout.compareTo(MIN_TIMEOUT) < 0 || timeout.compareTo(MAX_TIMEOUT) > 0) {
            throw new IllegalArgumentException("the iteration timeout must be 1 ms to 1 hour, not " + timeout);
        }
        if (startCpuidLeaf == null) {
            throw new IllegalArgumentException("startCpuidLeaf: OptionalLong.empty() for none");
        }
        if (startCpuidLeaf.isPresent() && (startCpuidLeaf.getAsLong() < 0 || startCpuidLeaf.getAsLong() > 0xffff_ffffL)) {
            throw new IllegalArgumentException("a CPUID leaf is 32 bits, not " + hex(startCpuidLeaf.getAsLong()));
        }
        if (Long.compareUnsigned(inputAddress, -1L - (inputSize - 1)) > 0) {
            throw new IllegalArgumentException("the input " + hex(inputAddress) + " + " + inputSize
                    + " bytes runs past the top of the address space");
        }
        if (!virtual) {
            checkPhysical("the input", inputAddress, inputSize);
            checkPhysical("the done address", done, 1);
            for (long c : crashes) {
                checkPhysical("the crash address " + hex(c), c, 1);
            }
        }
        checkOutsideInput(inputAddress, inputSize, done, crashes, virtual ? "guest-virtual" : "guest-physical");
    }

    /** A target whose addresses are guest-physical, with ICEBP breakpoints, the default timeout and no harness CPUID. */
    public static FuzzTarget physical(int parent, long inputAddress, int inputSize, long done, List<Long> crashes) {
        return new FuzzTarget(parent, inputAddress, inputSize, done, crashes, false, Breakpoints.Instruction.ICEBP,
                DEFAULT_TIMEOUT, OptionalLong.empty());
    }

    /** The same with guest-virtual addresses, translated through the parent's vCPU 0 page tables. */
    public FuzzTarget asVirtual() {
        return new FuzzTarget(parent, inputAddress, inputSize, done, crashes, true, instruction, timeout, startCpuidLeaf);
    }

    public FuzzTarget withInstruction(Breakpoints.Instruction insn) {
        return new FuzzTarget(parent, inputAddress, inputSize, done, crashes, virtual, insn, timeout, startCpuidLeaf);
    }

    public FuzzTarget withTimeout(Duration t) {
        return new FuzzTarget(parent, inputAddress, inputSize, done, crashes, virtual, instruction, t, startCpuidLeaf);
    }

    /** Run the parent to a CPUID of {@code leaf} first (it need not be paused then). */
    public FuzzTarget startingAtCpuid(long leaf) {
        return new FuzzTarget(parent, inputAddress, inputSize, done, crashes, virtual, instruction, timeout,
                OptionalLong.of(leaf));
    }

    /** The done address and the crash addresses, done first. */
    public List<Long> breakpoints() {
        List<Long> all = new ArrayList<>();
        all.add(done);
        all.addAll(crashes);
        return all;
    }

    private static void checkPhysical(String what, long address, int length) {
        if (address < 0 || address > PHYSICAL_LIMIT - length) {
            throw new IllegalArgumentException(what + " " + hex(address) + (length > 1 ? " + " + length + " bytes" : "")
                    + " is not guest-physical: those are 0 to 0x" + Long.toHexString(PHYSICAL_LIMIT - 1)
                    + " (52 bits); give --virtual for a guest-virtual address");
        }
    }

    /**
     * A breakpoint inside the input buffer would be overwritten by every input. Checked here on the
     * addresses as given, and again by {@link Fuzzer} on the guest-physical ones.
     */
    static void checkOutsideInput(long input, int size, long done, List<Long> crashes, String kind) {
        for (long a : breakpointsOf(done, crashes)) {
            if (Long.compareUnsigned(a - input, size) < 0) {
                throw new IllegalArgumentException("the breakpoint at " + kind + " " + hex(a) + " is inside the input buffer "
                        + hex(input) + " + " + size + " bytes: every input would overwrite it");
            }
        }
    }

    private static List<Long> breakpointsOf(long done, List<Long> crashes) {
        List<Long> all = new ArrayList<>(crashes);
        all.add(0, done);
        return all;
    }

    private static List<Long> duplicates(List<Long> values) {
        List<Long> seen = new ArrayList<>();
        List<Long> twice = new ArrayList<>();
        for (long v : values) {
            if (seen.contains(v) && !twice.contains(v)) {
                twice.add(v);
            }
            seen.add(v);
        }
        return twice;
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    private static String hexes(List<Long> values) {
        return String.join(", ", values.stream().map(FuzzTarget::hex).toList());
    }

    /** The harness leaf, if any. */
    public Optional<Long> harnessLeaf() {
        return startCpuidLeaf.isPresent() ? Optional.of(startCpuidLeaf.getAsLong()) : Optional.empty();
    }
}
