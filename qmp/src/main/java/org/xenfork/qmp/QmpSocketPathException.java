package org.xenfork.qmp;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The path given as a QMP socket cannot be one: it is not a Unix socket (a regular file, a folder, …), or
 * it is longer than a Unix socket address holds ({@code sun_path}, 108 bytes with its NUL). Found before
 * anything is sent, so it is the caller's path that is wrong, not QEMU: the command line says so with
 * exit 2. A missing path is {@link java.nio.file.NoSuchFileException}.
 */
public final class QmpSocketPathException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path path;

    QmpSocketPathException(Path path, String message) {
        super(message);
        this.path = path;
    }

    /** The path, as an absolute one. */
    public Path path() {
        return path;
    }
}
