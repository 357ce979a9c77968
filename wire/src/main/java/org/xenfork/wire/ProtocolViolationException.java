package org.xenfork.wire;

/**
 * The peer sent something its protocol does not allow. When the framing is what broke (a message over the
 * bound, bytes that cannot be a frame, an answer to nothing asked), the byte stream cannot be trusted to be
 * in step any more and the connection is closed; when a well-framed answer has a malformed body, only that
 * operation fails. Each client's documentation says which of its errors are which.
 */
public final class ProtocolViolationException extends ConnectionException {

    private static final long serialVersionUID = 1L;

    public ProtocolViolationException(String peer, String operation, String message) {
        super(peer, operation, message, null);
    }

    public ProtocolViolationException(String peer, String operation, String message, Throwable cause) {
        super(peer, operation, message, cause);
    }
}
