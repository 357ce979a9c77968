package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * An asynchronous QMP event: {@code {"event": NAME, "data": {…}, "timestamp": {"seconds": S, "microseconds": U}}}.
 *
 * @param data the event's data, or an empty object when QEMU sent none
 * @param timestamp QEMU's host-clock time of the event; null if the message carried none, or one that is no
 *        instant (not two integers, microseconds outside ±999,999, QEMU's "no clock" {@code -1, -1}, or outside
 *        {@link Instant}'s range): the event is delivered all the same (docs/QMP.md, "What QEMU sends")
 */
public record QmpEvent(String name, JsonNode data, Instant timestamp) {
}
