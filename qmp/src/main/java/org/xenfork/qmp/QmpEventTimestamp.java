package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.lang.System.Logger.Level;
import java.time.DateTimeException;
import java.time.Instant;

/**
 * An event's {@code "timestamp": {"seconds": S, "microseconds": U}} as an {@link Instant}, or null when there is
 * none to be had. QEMU 7.2 computes both from {@code g_get_real_time()} with C's {@code /} and {@code %}
 * ({@code qapi/qmp-event.c}), so U is within ±999,999 and is negative for a clock before 1970; earlier releases
 * sent {@code -1, -1} when {@code qemu_gettimeofday} failed. Whatever else a peer sends there — members missing or
 * not integers, U out of that range, an instant outside {@code Instant}'s range — is no timestamp, and the event
 * is delivered without one (the reason logged at DEBUG: a peer could send such events without end): the time is
 * a detail of the event, not a reason to give up the connection.
 */
final class QmpEventTimestamp {

    private static final System.Logger LOG = System.getLogger(QmpEventTimestamp.class.getName());
    private static final long MICROS_MAX = 999_999;

    private QmpEventTimestamp() {
    }

    /** The instant {@code timestamp} (the member's value, or null if the event has none) stands for, or null. */
    static Instant of(String event, JsonNode timestamp) {
        if (timestamp == null) {
            return null;
        }
        JsonNode s = timestamp.get("seconds");
        JsonNode u = timestamp.get("microseconds");
        if (!isLong(s) || !isLong(u)) {
            return unusable(event, timestamp, "seconds and microseconds are not both integers");
        }
        long seconds = s.longValue();
        long micros = u.longValue();
        if (micros < -MICROS_MAX || micros > MICROS_MAX) {
            return unusable(event, timestamp, "microseconds outside ±" + MICROS_MAX);
        }
        if (seconds == -1 && micros == -1) {
            return unusable(event, timestamp, "QEMU could not read its clock");
        }
        try {
            return Instant.ofEpochSecond(seconds, micros * 1000);
        } catch (DateTimeException | ArithmeticException e) {
            return unusable(event, timestamp, "outside the range of an Instant");
        }
    }

    private static Instant unusable(String event, JsonNode timestamp, String why) {
        LOG.log(Level.DEBUG, () -> "QMP event " + Texts.excerpt(event, 80) + " delivered without its timestamp ("
                + why + "): " + Texts.json(timestamp));
        return null;
    }

    private static boolean isLong(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToLong();
    }
}
