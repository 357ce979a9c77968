package org.xenfork.fork.devicemodel;

/**
 * A program the device model needs is not installed (Xen's QEMU, setsid). Nothing
 * was started or written; the message names what to install. The command line
 * maps it to exit code 3, like any missing part of the environment.
 */
public final class DeviceModelMissingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DeviceModelMissingException(String message) {
        super(message);
    }
}
