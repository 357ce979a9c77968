package org.xenfork.qmp;

import java.io.IOException;
import java.time.Duration;

/**
 * No reply (or greeting) within the caller's timeout. For a command, the connection stays usable: the
 * command's id is remembered as abandoned and its reply, if QEMU sends it later, is dropped instead of
 * being matched to anything else. QEMU may still carry the command out.
 */
public class QmpTimeoutException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String command;
    private final Duration timeout;

    public QmpTimeoutException(String command, Duration timeout, String message) {
        super(message);
        this.command = command;
        this.timeout = timeout;
    }

    public QmpTimeoutException(String command, Duration timeout, String message, Throwable cause) {
        super(message, cause);
        this.command = command;
        this.timeout = timeout;
    }

    /** The command that was not answered, or {@code "QMP greeting"} while connecting. */
    public String command() {
        return command;
    }

    public Duration timeout() {
        return timeout;
    }
}
