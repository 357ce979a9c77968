package org.xenfork.xenstore;

import java.util.Optional;

/**
 * {@code enum xsd_sockmsg_type} from xs_wire.h, with each constant's wire value
 * written out (not its ordinal): value 20 was {@code XS_RESTRICT}, removed in Xen 4.9,
 * so the numbering has a gap that an ordinal would hide.
 */
public enum XsMessageType {
    CONTROL(0),
    DIRECTORY(1),
    READ(2),
    GET_PERMS(3),
    WATCH(4),
    UNWATCH(5),
    TRANSACTION_START(6),
    TRANSACTION_END(7),
    INTRODUCE(8),
    RELEASE(9),
    GET_DOMAIN_PATH(10),
    WRITE(11),
    MKDIR(12),
    RM(13),
    SET_PERMS(14),
    WATCH_EVENT(15),
    ERROR(16),
    IS_DOMAIN_INTRODUCED(17),
    RESUME(18),
    SET_TARGET(19),
    RESET_WATCHES(21),
    DIRECTORY_PART(22);

    /** {@code XS_TYPE_COUNT}: one past the largest valid type. */
    public static final int TYPE_COUNT = 23;

    /** {@code XS_INVALID}: "guaranteed to remain an invalid type". */
    public static final int INVALID = 0xffff;

    private static final XsMessageType[] BY_CODE = new XsMessageType[TYPE_COUNT];

    static {
        for (XsMessageType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;

    XsMessageType(int code) {
        this.code = code;
    }

    /** The value in {@code xsd_sockmsg.type}. */
    public int code() {
        return code;
    }

    /** The C name, e.g. {@code XS_READ}; used in error messages so they match Xen's sources. */
    public String cName() {
        return "XS_" + name();
    }

    /** The type with this wire value; empty for unknown values (including 20 and {@link #INVALID}). */
    public static Optional<XsMessageType> fromCode(int code) {
        return code >= 0 && code < TYPE_COUNT ? Optional.ofNullable(BY_CODE[code]) : Optional.empty();
    }
}
