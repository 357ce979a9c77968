package org.xenfork.qmp;

/**
 * The error classes QEMU puts in {@code "error": {"class": …}} ({@code qapi/error.json}, stable since
 * QEMU 1.2). Almost every failure is {@link #GenericError}; clients must not parse {@code desc}.
 * A class this client does not know maps to {@link #UNKNOWN}; {@link QmpErrorException#rawClass()}
 * keeps the string QEMU sent.
 */
public enum QmpErrorClass {
    GenericError,
    CommandNotFound,
    DeviceNotActive,
    DeviceNotFound,
    KVMMissingCap,
    /** A class name not in the list above (a newer QEMU, or not QEMU at all). */
    UNKNOWN;

    /** The constant for a wire name, {@link #UNKNOWN} for any other string (including "UNKNOWN" itself). */
    public static QmpErrorClass fromWire(String wire) {
        if (wire != null) {
            for (QmpErrorClass c : values()) {
                if (c != UNKNOWN && c.name().equals(wire)) {
                    return c;
                }
            }
        }
        return UNKNOWN;
    }
}
