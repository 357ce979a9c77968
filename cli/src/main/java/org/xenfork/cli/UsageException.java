package org.xenfork.cli;

/** Bad usage or input that picocli itself cannot see; exit code 2 with the message. */
final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
