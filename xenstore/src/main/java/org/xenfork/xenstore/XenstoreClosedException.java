package org.xenfork.xenstore;

import java.io.IOException;

/**
 * The connection is closed: by {@link XenstoreClient#close()}, by xenstored, or
 * after a protocol error. The cause, if any, says why it closed.
 */
public final class XenstoreClosedException extends IOException {

    private static final long serialVersionUID = 1L;

    public XenstoreClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
