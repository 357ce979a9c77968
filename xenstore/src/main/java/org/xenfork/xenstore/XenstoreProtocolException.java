package org.xenfork.xenstore;

import java.io.IOException;

/**
 * The peer broke the wire protocol. A framing error (a header with an unknown
 * type or a length above {@code XENSTORE_PAYLOAD_MAX}, a stream ending mid-message,
 * a reply of the wrong type) means the byte stream can no longer be trusted to be
 * in step, so the connection is closed and callers see {@link XenstoreClosedException}
 * with this as its cause. A malformed payload in a well-framed reply (a bad
 * permission string, transaction id or error name) fails only that request.
 */
public final class XenstoreProtocolException extends IOException {

    private static final long serialVersionUID = 1L;

    public XenstoreProtocolException(String message) {
        super(message);
    }
}
