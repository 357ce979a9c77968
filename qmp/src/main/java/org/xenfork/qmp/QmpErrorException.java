package org.xenfork.qmp;

import java.io.IOException;

/**
 * QEMU answered a command with {@code {"error": {"class": …, "desc": …}}}. The connection stays usable.
 * The message reads like {@code QEMU refused xen-save-devices-state: GenericError: Unable to open /x: No such
 * file or directory}; in it the class and {@code desc} are cut short (80 and 500 characters) and their control and
 * non-ASCII characters escaped, since they are the peer's words and the message may reach a terminal.
 * {@link #rawClass()} and {@link #desc()} keep them verbatim.
 */
public class QmpErrorException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String command;
    private final QmpErrorClass errorClass;
    private final String rawClass;
    private final String desc;

    public QmpErrorException(String command, String rawClass, String desc) {
        super("QEMU refused " + command + ": " + Texts.excerpt(rawClass, 80) + ": " + Texts.excerpt(desc, 500));
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
