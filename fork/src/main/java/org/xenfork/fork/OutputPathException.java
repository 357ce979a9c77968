package org.xenfork.fork;

/**
 * A path xenfork was asked to write refused before anything was written there: its folder is
 * missing or cannot be written, or something other than a regular file is at the path (a folder,
 * a symbolic link, a device, a FIFO, a socket). The message names the path and what is wrong;
 * the command line maps it to exit code 2.
 */
public final class OutputPathException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public OutputPathException(String message) {
        super(message);
    }
}
