package org.xenfork.xenstore;

import java.io.IOException;
import java.util.Objects;
import java.util.Optional;

/**
 * xenstored refused a request: it answered with {@code XS_ERROR}. Carries the
 * operation, the path it was about (if any) and the error name exactly as
 * xenstored sent it, e.g. {@code XS_READ /local/domain/7/name: ENOENT}.
 */
public final class XenstoreException extends IOException {

    private static final long serialVersionUID = 1L;

    private final XsMessageType operation;
    private final String path;
    private final String errorName;

    public XenstoreException(XsMessageType operation, String path, String errorName) {
        this(operation, path, errorName, null);
    }

    /** {@code detail}, if not null, is appended to the message (e.g. how many attempts were made). */
    public XenstoreException(XsMessageType operation, String path, String errorName, String detail) {
        super(operation.cName() + (path == null ? "" : " " + path) + ": " + errorName
                + (detail == null ? "" : " (" + detail + ")"));
        this.operation = operation;
        this.path = path;
        this.errorName = Objects.requireNonNull(errorName, "errorName");
    }

    /** The request xenstored refused. */
    public XsMessageType operation() {
        return operation;
    }

    /** The path of the request, or null for requests without one (transaction start/end). */
    public String path() {
        return path;
    }

    /** The error name as received, e.g. {@code "ENOENT"}. */
    public String errorName() {
        return errorName;
    }

    /** The error as a known constant; empty if this Xen release's table does not list the name. */
    public Optional<XsError> error() {
        return XsError.fromName(errorName);
    }

    public boolean is(XsError error) {
        return error.name().equals(errorName);
    }
}
