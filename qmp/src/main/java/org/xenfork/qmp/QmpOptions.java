package org.xenfork.qmp;

/**
 * Bounds of one QMP connection. {@link #DEFAULTS} suit a device model's socket.
 *
 * @param maxMessageBytes the longest message accepted from QEMU (one line of JSON, without its CRLF) and
 *        sent to it; a longer one is a {@link org.xenfork.wire.ProtocolViolationException} naming this bound. Default 1 MiB:
 *        {@code query-qmp-schema}, the largest reply of QEMU 7.2, is about 200 KiB.
 * @param eventQueueCapacity events received but not yet handed to listeners; if listeners fall this far
 *        behind, the connection fails loudly rather than dropping events or growing without limit. The
 *        waiting events' lines may also add up to at most {@link #EVENT_QUEUE_MESSAGES} × {@code maxMessageBytes}:
 *        a parsed line can take about 29 times its text in heap, so the count alone would let a QEMU that
 *        sends 1024 one-megabyte events pin some 30 GB
 * @param maxInFlight commands sent and not yet answered (timed-out ones count until QEMU answers them
 *        or answers a later one); one more is refused with an {@link java.io.IOException}
 */
public record QmpOptions(int maxMessageBytes, int eventQueueCapacity, int maxInFlight) {

    public static final QmpOptions DEFAULTS = new QmpOptions(1 << 20, 1024, 64);

    /**
     * How many of the longest messages the events waiting for listeners may weigh together (real events are
     * a few hundred bytes: 4 MiB of them is thousands, beyond {@code eventQueueCapacity}).
     */
    public static final int EVENT_QUEUE_MESSAGES = 4;

    public QmpOptions {
        if (maxMessageBytes < 256) {
            throw new IllegalArgumentException("maxMessageBytes must be at least 256 (a greeting fits): " + maxMessageBytes);
        }
        if (eventQueueCapacity < 1) {
            throw new IllegalArgumentException("eventQueueCapacity must be positive: " + eventQueueCapacity);
        }
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be positive: " + maxInFlight);
        }
    }

    public QmpOptions withMaxMessageBytes(int bytes) {
        return new QmpOptions(bytes, eventQueueCapacity, maxInFlight);
    }

    public QmpOptions withEventQueueCapacity(int events) {
        return new QmpOptions(maxMessageBytes, events, maxInFlight);
    }

    public QmpOptions withMaxInFlight(int commands) {
        return new QmpOptions(maxMessageBytes, eventQueueCapacity, commands);
    }
}
