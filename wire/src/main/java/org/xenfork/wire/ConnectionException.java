package org.xenfork.wire;

import java.io.IOException;
import java.util.Objects;

/**
 * A connection to a peer failed: it is {@linkplain ConnectionClosedException closed}, an operation
 * {@linkplain ConnectionTimeoutException timed out}, or the peer {@linkplain ProtocolViolationException broke
 * the protocol}. Each carries the peer and, when the failure belongs to one, the operation; the message is a
 * whole sentence for a person and names both where they are known.
 *
 * <p>A peer refusing a request in its protocol's own way is not a connection failure and is not in this
 * family: QEMU's {@code error} reply is {@code QmpErrorException}, xenstored's {@code XS_ERROR} is
 * {@code XenstoreException}.
 */
public abstract sealed class ConnectionException extends IOException
        permits ConnectionClosedException, ConnectionTimeoutException, ProtocolViolationException {

    private static final long serialVersionUID = 1L;

    private final String peer;
    private final String operation;

    ConnectionException(String peer, String operation, String message, Throwable cause) {
        super(Objects.requireNonNull(message, "message"), cause);
        this.peer = Objects.requireNonNull(peer, "peer");
        this.operation = operation;
    }

    /**
     * Who is at the other end, e.g. {@code QEMU on /var/run/xen/qmp-libxl-5} or
     * {@code xenstored on unix socket /run/xenstored/socket}; just {@code QEMU} or {@code xenstored} where the
     * failure was found by code that parses bytes and knows no connection.
     */
    public String peer() {
        return peer;
    }

    /**
     * The operation that failed, e.g. {@code xen-save-devices-state} or {@code XS_READ /local/domain/7/name};
     * null when the failure belongs to the connection as a whole rather than to one operation.
     */
    public String operation() {
        return operation;
    }
}
