package org.xenfork.qmp;

import java.io.IOException;

/**
 * QEMU answered a command with {@code {"error": {"class": …, "desc": …}}}. The connection stays usable.
 * The message reads like {@code QEMU refused xen-save-devices-state: GenericError: Unable to open /x: No such
 * file or directory}.
 */
public class QmpErrorException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String command;
    private final QmpErrorClass errorClass;
    private final String rawClass;
    private final String desc;

    public QmpErrorException(String command, String rawClass, String desc) {
        super("QEMU refused " + command + ": " + rawClass + ": " + desc);
        this.command = command;
        this.rawClass = rawClass;
        this.errorClass = QmpErrorClass.fromWire(rawClass);
        this.desc = desc;
    }

    /** The command QEMU refused. */
    public String command() {
        return command;
    }

    /** The error class; {@link QmpErrorClass#UNKNOWN} when QEMU sent one not in the enum. */
    public QmpErrorClass errorClass() {
        return errorClass;
    }

    /** The class exactly as QEMU sent it. */
    public String rawClass() {
        return rawClass;
    }

    /** QEMU's human-readable description, verbatim. */
    public String desc() {
        return desc;
    }
}
