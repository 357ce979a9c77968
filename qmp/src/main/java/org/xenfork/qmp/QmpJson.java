package org.xenfork.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;

/**
 * JSON text to Jackson trees and back with Jackson's streaming layer only. The {@code ObjectMapper} is
 * deliberately not used: creating one loads about 400 classes of databind machinery, which is most of the
 * client's cold-start cost in a fresh JVM (docs/PERFORMANCE.md, "QMP client (issue 6)"), and QMP needs
 * nothing from it but trees.
 */
final class QmpJson {

    private static final JsonFactory FACTORY = new JsonFactory();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private QmpJson() {
    }

    /** Exactly one JSON value from {@code in}; null if there is none; trailing tokens are an error. */
    static JsonNode parse(InputStream in) throws IOException {
        try (JsonParser p = FACTORY.createParser(in)) {
            JsonToken first = p.nextToken();
            if (first == null) {
                return null;
            }
            JsonNode value = value(p, first);
            JsonToken trailing = p.nextToken();
            if (trailing != null) {
                throw new com.fasterxml.jackson.core.JsonParseException(p, "trailing token after the JSON value: " + trailing);
            }
            return value;
        }
    }

    private static JsonNode value(JsonParser p, JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT: {
                ObjectNode o = NODES.objectNode();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    String name = p.currentName();
                    o.set(name, value(p, p.nextToken()));
                }
                return o;
            }
            case START_ARRAY: {
                ArrayNode a = NODES.arrayNode();
                for (JsonToken e = p.nextToken(); e != JsonToken.END_ARRAY; e = p.nextToken()) {
                    a.add(value(p, e));
                }
                return a;
            }
            case VALUE_STRING:
                return NODES.textNode(p.getText());
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT:
                        return NODES.numberNode(p.getIntValue());
                    case LONG:
                        return NODES.numberNode(p.getLongValue());
                    default:
                        return NODES.numberNode(p.getBigIntegerValue());
                }
            case VALUE_NUMBER_FLOAT:
                return NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE:
                return NODES.booleanNode(true);
            case VALUE_FALSE:
                return NODES.booleanNode(false);
            case VALUE_NULL:
                return NODES.nullNode();
            default:
                throw new com.fasterxml.jackson.core.JsonParseException(p, "unexpected token " + t);
        }
    }

    /** {@code node} as compact JSON text in UTF-8. */
    static byte[] write(JsonNode node) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        write(node, out);
        return out.toByteArray();
    }

    /** {@code node} as compact JSON text, for messages (a node that cannot be written is shown by its type). */
    static String text(JsonNode node) {
        if (node == null) {
            return "null";
        }
        try {
            return new String(write(node), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return "(" + node.getNodeType() + ")";
        }
    }

    static void write(JsonNode node, OutputStream out) throws IOException {
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            write(g, node);
        }
    }

    private static void write(JsonGenerator g, JsonNode n) throws IOException {
        switch (n.getNodeType()) {
            case OBJECT:
                g.writeStartObject();
                for (Map.Entry<String, JsonNode> e : n.properties()) {
                    g.writeFieldName(e.getKey());
                    write(g, e.getValue());
                }
                g.writeEndObject();
                break;
            case ARRAY:
                g.writeStartArray();
                for (JsonNode e : n) {
                    write(g, e);
                }
                g.writeEndArray();
                break;
            case STRING:
                g.writeString(n.textValue());
                break;
            case NUMBER:
                if (n.isInt() || n.isShort()) {
                    g.writeNumber(n.intValue());
                } else if (n.isLong()) {
                    g.writeNumber(n.longValue());
                } else if (n.isBigInteger()) {
                    g.writeNumber(n.bigIntegerValue());
                } else if (n.isBigDecimal()) {
                    g.writeNumber(n.decimalValue());
                } else {
                    g.writeNumber(n.doubleValue());
                }
                break;
            case BOOLEAN:
                g.writeBoolean(n.booleanValue());
                break;
            case NULL:
                g.writeNull();
                break;
            default:
                throw new IllegalArgumentException("cannot send a " + n.getNodeType() + " node in QMP arguments");
        }
    }
}
