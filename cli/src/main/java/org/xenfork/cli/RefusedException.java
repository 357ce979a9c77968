package org.xenfork.cli;

/**
 * What was asked could not be done for a reason outside the command line: a guest address
 * that is not mapped, a frame Xen would not map. Exit 1, as for a hypercall Xen refused; the
 * message names the address and why.
 */
final class RefusedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    RefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
