package org.xenfork.qmp;

import java.io.IOException;

/**
 * The connection is gone: QEMU closed it (or died) while a command was pending, the client was closed, or
 * an earlier failure made it unusable. The cause, when there is one, is that earlier failure.
 */
public class QmpClosedException extends IOException {
    private static final long serialVersionUID = 1L;

    public QmpClosedException(String message) {
        super(message);
    }

    public QmpClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
