package org.xenfork.xenstore;

import java.io.IOException;
import java.time.Duration;

/**
 * No reply within the client's per-request timeout. Whether xenstored carried
 * out the request is unknown; the connection stays usable, and a reply that
 * arrives later is discarded.
 */
public final class XenstoreTimeoutException extends IOException {

    private static final long serialVersionUID = 1L;

    public XenstoreTimeoutException(XsMessageType operation, String path, Duration timeout) {
        super(operation.cName() + (path == null ? "" : " " + path) + ": no reply within " + timeout.toMillis() + " ms");
    }
}
