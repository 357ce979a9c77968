package org.xenfork.fuzz;

/**
 * The domain is not one that can be fuzzed as asked (a running parent without a harness CPUID, a PV
 * guest, a breakpoint that lands inside the input buffer once translated): nothing was changed (the
 * command line's exit 2).
 */
public final class FuzzRequestException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FuzzRequestException(String message) {
        super(message);
    }
}
