package org.xenfork.xenstore;

import java.util.Optional;

/**
 * The error names xenstored sends in an {@code XS_ERROR} reply: the
 * {@code xsd_errors[]} table of xs_wire.h, in its order. Errors travel as these
 * strings ("for portability"), never as numbers, so only the names matter here.
 */
public enum XsError {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM;

    /** The constant named {@code name}, or empty for a name this Xen release does not list. */
    public static Optional<XsError> fromName(String name) {
        for (XsError e : values()) {
            if (e.name().equals(name)) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }
}
