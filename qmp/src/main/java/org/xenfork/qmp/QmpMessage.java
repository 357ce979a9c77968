package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.xenfork.wire.ProtocolViolationException;

/**
 * Meaning: what one JSON object from QEMU is (qmp-spec 2.2–2.5). Classified by its keys alone:
 * {@code QMP} a greeting, {@code event} an event, {@code return} a success, {@code error} a failure. An
 * object with {@code event} is always an event, whatever else it holds, so an event can never be taken for
 * a reply. Unknown extra keys are ignored, as the spec asks of clients.
 */
sealed interface QmpMessage {

    record Greeting(QmpGreeting greeting) implements QmpMessage {
    }

    /** An event, and the bytes its line took (what it weighs in the queue for listeners). */
    record Event(QmpEvent event, int lineBytes) implements QmpMessage {
    }

    /** A reply; {@code id} is what QEMU echoed, or null if the reply carried none. */
    sealed interface Reply extends QmpMessage {
        JsonNode id();
    }

    record Return(JsonNode id, JsonNode value) implements Reply {
    }

    record Error(JsonNode id, String errorClass, String desc) implements Reply {
    }

    /**
     * Classifies {@code node}, parsed from a line of {@code lineBytes} bytes; anything that is not one of the four
     * kinds is a protocol error.
     */
    static QmpMessage of(JsonNode node, int lineBytes) throws ProtocolViolationException {
        if (node == null || !node.isObject()) {
            throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent JSON that is not an object: " + Texts.json(node));
        }
        if (node.has("QMP")) {
            return new Greeting(greeting(node));
        }
        if (node.has("event")) {
            return new Event(event(node), lineBytes);
        }
        boolean hasReturn = node.has("return");
        boolean hasError = node.has("error");
        if (hasReturn && hasError) {
            throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent a reply with both return and error: " + Texts.json(node));
        }
        JsonNode id = node.get("id");
        if (hasReturn) {
            return new Return(id, node.get("return"));
        }
        if (hasError) {
            JsonNode error = node.get("error");
            JsonNode cls = error.get("class");
            if (!error.isObject() || cls == null || !cls.isTextual()) {
                throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent an error reply without a class: " + Texts.json(node));
            }
            JsonNode desc = error.get("desc");
            return new Error(id, cls.textValue(), desc != null && desc.isTextual() ? desc.textValue() : "");
        }
        throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent a JSON object that is neither greeting, reply nor event: " + Texts.json(node));
    }

    private static QmpGreeting greeting(JsonNode node) throws ProtocolViolationException {
        JsonNode qmp = node.get("QMP");
        JsonNode qemu = qmp.path("version").path("qemu");
        JsonNode caps = qmp.path("capabilities");
        if (!isInt(qemu.get("major")) || !isInt(qemu.get("minor")) || !isInt(qemu.get("micro")) || !caps.isArray()) {
            throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent a malformed QMP greeting (expected QMP.version.qemu.major/minor/micro "
                    + "and QMP.capabilities): " + Texts.json(node));
        }
        List<String> capabilities = new ArrayList<>();
        for (JsonNode c : caps) {
            capabilities.add(c.asText());
        }
        JsonNode pkg = qmp.path("version").path("package");
        return new QmpGreeting(qemu.get("major").intValue(), qemu.get("minor").intValue(), qemu.get("micro").intValue(),
                pkg.isTextual() ? pkg.textValue() : "", capabilities);
    }

    private static QmpEvent event(JsonNode node) throws ProtocolViolationException {
        JsonNode name = node.get("event");
        if (!name.isTextual() || name.textValue().isEmpty()) {
            throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent an event without a name: " + Texts.json(node));
        }
        JsonNode data = node.get("data");
        if (data == null || data.isNull()) {
            data = JsonNodeFactory.instance.objectNode();
        }
        Instant timestamp = QmpEventTimestamp.of(name.textValue(), node.get("timestamp"));
        return new QmpEvent(name.textValue(), data, timestamp);
    }

    private static boolean isInt(JsonNode n) {
        return n != null && n.isIntegralNumber() && n.canConvertToInt();
    }
}
