package org.xenfork.vmi;

/**
 * A guest address that could not be read, written or translated. The message names the
 * address (and, for a translation, the paging level) and what Xen or the page tables said.
 */
public class GuestMemoryException extends Exception {
    private static final long serialVersionUID = 1L;

    public GuestMemoryException(String message) {
        super(message);
    }

    public GuestMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
