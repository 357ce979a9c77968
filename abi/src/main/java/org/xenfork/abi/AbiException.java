package org.xenfork.abi;

/**
 * Input that does not fit Xen's ABI: an unknown release, struct or field, or a
 * value or byte string that does not fit. The message names what was wrong and
 * what would be accepted; the command line maps it to exit code 2.
 */
public class AbiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public AbiException(String message) {
        super(message);
    }
}
