package org.xenfork.fork;

/**
 * A fork request refused before anything changed: the parent cannot be forked
 * (domain 0, PV, no HAP, dying), a name is taken or unusable, a count is out of
 * range. The command line maps it to exit code 2.
 */
public final class ForkRequestException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ForkRequestException(String message) {
        super(message);
    }
}
