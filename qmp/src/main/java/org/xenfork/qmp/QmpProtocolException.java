package org.xenfork.qmp;

import java.io.IOException;

/**
 * The peer broke the QMP protocol: bytes that are not JSON, a message over the client's size bound, a JSON
 * object that is neither greeting, reply nor event, a reply whose id matches no command sent. The
 * connection is closed when this happens (after it the stream cannot be trusted), and every pending
 * command fails with this exception.
 */
public class QmpProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    public QmpProtocolException(String message) {
        super(message);
    }

    public QmpProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
