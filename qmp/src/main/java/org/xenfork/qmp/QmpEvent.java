package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * An asynchronous QMP event: {@code {"event": NAME, "data": {…}, "timestamp": {"seconds": S, "microseconds": U}}}.
 *
 * @param data the event's data, or an empty object when QEMU sent none
 * @param timestamp QEMU's host-clock time of the event, or null if the message carried none
 */
public record QmpEvent(String name, JsonNode data, Instant timestamp) {
}
