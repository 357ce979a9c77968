package org.xenfork.xenstore;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.xenfork.wire.ProtocolViolationException;

/**
 * The payload conventions shared by most xenstore messages: arguments are strings
 * each followed by a NUL ({@code "path\0token\0"}); a written value is raw bytes
 * after the path's NUL, without a terminator of its own.
 */
final class XsPayload {

    private XsPayload() {
    }

    /** {@code "a\0b\0..."}; a NUL inside an argument would split it in two on the other side, so it is refused. */
    static byte[] strings(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String arg : args) {
            if (arg.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("a xenstore argument cannot contain NUL: " + printable(arg.getBytes(StandardCharsets.UTF_8), 80));
            }
            out.writeBytes(arg.getBytes(StandardCharsets.UTF_8));
            out.write(0);
        }
        return out.toByteArray();
    }

    static byte[] concat(byte[] first, byte[] second) {
        byte[] all = new byte[first.length + second.length];
        System.arraycopy(first, 0, all, 0, first.length);
        System.arraycopy(second, 0, all, first.length, second.length);
        return all;
    }

    /**
     * Splits NUL-terminated strings. Every string must be terminated: a payload
     * not ending in NUL is a malformed reply, not a last string to guess at.
     */
    static List<String> splitStrings(byte[] payload) throws ProtocolViolationException {
        List<String> out = new ArrayList<>();
        if (payload.length == 0) {
            return out;
        }
        if (payload[payload.length - 1] != 0) {
            throw new ProtocolViolationException(XsMessageCodec.PEER, null, "payload is not NUL-terminated: " + printable(payload, 80));
        }
        int start = 0;
        for (int i = 0; i < payload.length; i++) {
            if (payload[i] == 0) {
                out.add(new String(payload, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return out;
    }

    /**
     * A reply that is one string (transaction id, domain path, error name). xenstored
     * terminates these with NUL; one trailing NUL is dropped, an inner NUL is an error.
     */
    static String singleString(byte[] payload) throws ProtocolViolationException {
        int len = payload.length;
        if (len > 0 && payload[len - 1] == 0) {
            len--;
        }
        for (int i = 0; i < len; i++) {
            if (payload[i] == 0) {
                throw new ProtocolViolationException(XsMessageCodec.PEER, null, "expected one string, got several: " + printable(payload, 80));
            }
        }
        return new String(payload, 0, len, StandardCharsets.UTF_8);
    }

    /** For messages: printable ASCII as is, NUL as \0, other bytes as \xNN, cut after {@code max} bytes. */
    static String printable(byte[] bytes, int max) {
        StringBuilder sb = new StringBuilder("\"");
        int n = Math.min(bytes.length, max);
        for (int i = 0; i < n; i++) {
            int b = bytes[i] & 0xff;
            if (b == 0) {
                sb.append("\\0");
            } else if (b == '"' || b == '\\') {
                sb.append('\\').append((char) b);
            } else if (b >= 0x20 && b < 0x7f) {
                sb.append((char) b);
            } else {
                sb.append(String.format("\\x%02x", b));
            }
        }
        sb.append('"');
        if (bytes.length > max) {
            sb.append("... (").append(bytes.length).append(" bytes)");
        }
        return sb.toString();
    }
}
