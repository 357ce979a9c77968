package org.xenfork.cli;

/** xenstored refused a request the command needed; exit code 1 like a hypervisor refusal. */
final class XenstoreRefusal extends RuntimeException {
    private static final long serialVersionUID = 1L;

    XenstoreRefusal(String message, Throwable cause) {
        super(message, cause);
    }
}
