package org.xenfork.fuzz;

/**
 * The hypervisor refused a step of the fuzz loop, or a guest address could not be reached: the
 * message names the step, the domain and the errno or address, and what was left if anything was
 * (the command line's exit 1).
 */
public final class FuzzException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FuzzException(String message, Throwable cause) {
        super(message, cause);
    }
}
