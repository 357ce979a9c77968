package org.xenfork.hvmcontext;

import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Input that is not an HVM context Xen's loader would take, or an edit that does
 * not fit: the message names the byte offset and the record, e.g.
 * {@code record 7 (LAPIC_REGS, instance 0) at offset 0x5a8: length 1024 runs past
 * the end of the 1200-byte stream}. The command line maps it to exit code 2.
 */
public final class HvmContextException extends Exception {
    private static final long serialVersionUID = 1L;

    private final long offset;
    private final int record;

    private HvmContextException(String message, long offset, int record) {
        super(message);
        this.offset = offset;
        this.record = record;
    }

    /** A problem with no place in the stream (an edit of a record the stream does not have). */
    static HvmContextException because(String message) {
        return new HvmContextException(message, -1, -1);
    }

    /** A problem at a byte offset that belongs to no record yet (a descriptor that is not there). */
    static HvmContextException at(long offset, String message) {
        return new HvmContextException("offset " + hex(offset) + ": " + message, offset, -1);
    }

    /** A problem with record {@code index} (0 = HEADER) whose descriptor starts at {@code offset}. */
    static HvmContextException inRecord(int index, String type, int instance, long offset, String message) {
        return new HvmContextException("record " + index + " (" + type + ", instance " + instance + ") at offset "
                + hex(offset) + ": " + message, offset, index);
    }

    /** The descriptor offset the message names, if it names one. */
    public OptionalLong offset() {
        return offset < 0 ? OptionalLong.empty() : OptionalLong.of(offset);
    }

    /** The index of the record the message names (0 = HEADER), if it names one. */
    public OptionalInt record() {
        return record < 0 ? OptionalInt.empty() : OptionalInt.of(record);
    }

    static String hex(long value) {
        return "0x" + Long.toHexString(value);
    }
}
