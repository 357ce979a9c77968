package org.xenfork.xenstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * A byte pipe to xenstored. One thread reads (blocking) while others write: an
 * implementation must allow a {@link #write} during a blocked {@link #read}, and
 * {@link #close} must wake a blocked reader (it then sees an exception or EOF).
 */
interface XsTransport extends ReadableByteChannel {

    /** Writes all of {@code frame}; callers hand it one whole message at a time. */
    void write(ByteBuffer frame) throws IOException;

    /**
     * True where only one request may be outstanding at a time ({@code /dev/xen/xenbus},
     * as the brief for this client and libxenstore's use of the device assume).
     */
    boolean oneRequestAtATime();

    /** For messages, e.g. {@code "unix socket /run/xenstored/socket"}. */
    String describe();
}
