package org.xenfork.wire;

/**
 * The connection is gone: the peer closed it or died, the client was closed, or an earlier failure made it
 * unusable. That earlier failure, when there is one, is the cause. Nothing more will be read or sent on it.
 */
public final class ConnectionClosedException extends ConnectionException {

    private static final long serialVersionUID = 1L;

    public ConnectionClosedException(String peer, String operation, String message) {
        super(peer, operation, message, null);
    }

    public ConnectionClosedException(String peer, String operation, String message, Throwable cause) {
        super(peer, operation, message, cause);
    }
}
