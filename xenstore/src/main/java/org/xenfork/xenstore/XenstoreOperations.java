package org.xenfork.xenstore;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The node operations, available outside a transaction ({@link XenstoreClient})
 * and inside one ({@link XenstoreTransaction}). Paths are checked by
 * {@link XsPath#requireNodePath} before sending; a refused request throws
 * {@link XenstoreException} with xenstored's error name.
 */
public interface XenstoreOperations {

    /** {@code XS_READ}: the value as UTF-8 text, or empty if the node does not exist (ENOENT). */
    Optional<String> read(String path) throws IOException;

    /** {@code XS_READ}: the value's bytes (values are binary-safe), or empty on ENOENT. */
    Optional<byte[]> readBytes(String path) throws IOException;

    /** {@code XS_WRITE}: creates the node (and missing parents) or replaces its value. */
    void write(String path, String value) throws IOException;

    /** {@code XS_WRITE} of raw bytes; path, NUL and value together must fit {@code XENSTORE_PAYLOAD_MAX}. */
    void write(String path, byte[] value) throws IOException;

    /** {@code XS_MKDIR}: creates the node with an empty value; succeeds if it exists already. */
    void mkdir(String path) throws IOException;

    /** {@code XS_RM}: removes the node and everything below it. {@code "/"} is refused before sending. */
    void rm(String path) throws IOException;

    /**
     * {@link #rm}, where a node already gone is no error: C xenstored acks removing a
     * missing node whose parent exists, oxenstored and a missing parent answer ENOENT.
     */
    default void rmIfPresent(String path) throws IOException {
        try {
            rm(path);
        } catch (XenstoreException e) {
            if (!e.is(XsError.ENOENT)) {
                throw e;
            }
        }
    }

    /**
     * {@code XS_DIRECTORY}: names (not paths) of the node's children, in the daemon's
     * order. A list too long for one reply (E2BIG) is fetched in pieces with
     * {@code XS_DIRECTORY_PART}, as libxenstore does.
     */
    List<String> directory(String path) throws IOException;

    /** {@code XS_GET_PERMS}: the permission list; the first entry is the owner and the default for others. */
    List<XsPermission> getPermissions(String path) throws IOException;

    /** {@code XS_SET_PERMS}: replaces the permission list (at least one entry: the owner). */
    void setPermissions(String path, List<XsPermission> permissions) throws IOException;
}
