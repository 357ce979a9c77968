package org.xenfork.wire;

import java.time.Duration;
import java.util.Objects;

/**
 * No answer within the caller's timeout. Whether the peer carried the operation out is unknown. After a
 * request timed out the connection stays usable: its late answer, if it comes, is dropped, never matched to
 * another request. A connect that timed out leaves nothing open.
 */
public final class ConnectionTimeoutException extends ConnectionException {

    private static final long serialVersionUID = 1L;

    private final Duration timeout;

    public ConnectionTimeoutException(String peer, String operation, Duration timeout, String message) {
        this(peer, operation, timeout, message, null);
    }

    public ConnectionTimeoutException(String peer, String operation, Duration timeout, String message, Throwable cause) {
        super(peer, Objects.requireNonNull(operation, "operation"), message, cause);
        this.timeout = Objects.requireNonNull(timeout, "timeout");
    }

    /** How long the caller waited. */
    public Duration timeout() {
        return timeout;
    }
}
