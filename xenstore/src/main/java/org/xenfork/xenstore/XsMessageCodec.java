package org.xenfork.xenstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ProtocolViolationException;

/**
 * Framing only: {@link XsMessage} to and from bytes. A frame is the 16-byte
 * {@code struct xsd_sockmsg} header ({@code type, req_id, tx_id, len}, host-endian
 * {@code uint32_t}) followed by exactly {@code len} payload bytes. What a payload
 * means is {@link XsRequests}'s business, not this class's.
 *
 * <p>Reading validates the header before allocating anything: an unknown type or
 * a {@code len} above {@code XENSTORE_PAYLOAD_MAX} is a protocol error, so a
 * corrupt or hostile header can never make us allocate its announced size.
 */
public final class XsMessageCodec {

    /** The peer as code that parses xenstored's bytes knows it; the connection names the socket or device. */
    static final String PEER = "xenstored";

    private XsMessageCodec() {
    }

    /** Header and payload in one buffer, ready to write: one write keeps the frame whole on the xenbus device. */
    public static ByteBuffer encode(XsMessage message) {
        ByteBuffer buf = ByteBuffer.allocate(XsWire.HEADER_SIZE + message.length()).order(XsWire.BYTE_ORDER);
        buf.putInt(message.type().code());
        buf.putInt(message.reqId());
        buf.putInt(message.txId());
        buf.putInt(message.length());
        buf.put(message.payload());
        return buf.flip();
    }

    /** A checked header: the type is known and {@code len <= XENSTORE_PAYLOAD_MAX}. */
    record Header(XsMessageType type, int reqId, int txId, int len) {
    }

    /** Decodes and checks 16 header bytes (the buffer's remaining bytes; its byte order is ignored). */
    static Header decodeHeader(ByteBuffer bytes) throws ProtocolViolationException {
        if (bytes.remaining() != XsWire.HEADER_SIZE) {
            throw new IllegalArgumentException("a header is " + XsWire.HEADER_SIZE + " bytes, got " + bytes.remaining());
        }
        ByteBuffer h = bytes.slice().order(XsWire.BYTE_ORDER);
        int rawType = h.getInt();
        int reqId = h.getInt();
        int txId = h.getInt();
        long len = Integer.toUnsignedLong(h.getInt());
        XsMessageType type = XsMessageType.fromCode(rawType).orElseThrow(() -> new ProtocolViolationException(PEER, null,
                "unknown message type " + Integer.toUnsignedString(rawType) + " in header " + hex(bytes)));
        if (len > XsWire.PAYLOAD_MAX) {
            throw new ProtocolViolationException(PEER, null, type.cName() + " header announces " + len
                    + " payload bytes, more than XENSTORE_PAYLOAD_MAX (" + XsWire.PAYLOAD_MAX + ")");
        }
        return new Header(type, reqId, txId, (int) len);
    }

    /**
     * Reads one whole message, however the bytes are split across reads.
     *
     * @throws ConnectionClosedException  the stream ended cleanly between messages
     * @throws ProtocolViolationException a bad header, or the stream ended inside a message
     */
    public static XsMessage read(ReadableByteChannel in) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(XsWire.HEADER_SIZE);
        if (!readFully(in, header, true)) {
            throw new ConnectionClosedException(PEER, null, "xenstored closed the connection");
        }
        Header h = decodeHeader(header.flip());
        ByteBuffer payload = ByteBuffer.allocate(h.len());
        readFully(in, payload, false);
        return new XsMessage(h.type(), h.reqId(), h.txId(), payload.array());
    }

    /** Fills {@code buf}; false if the stream ended before its first byte and {@code eofOk}. */
    private static boolean readFully(ReadableByteChannel in, ByteBuffer buf, boolean eofOk) throws IOException {
        int wanted = buf.remaining();
        while (buf.hasRemaining()) {
            if (in.read(buf) < 0) {
                int got = wanted - buf.remaining();
                if (got == 0 && eofOk) {
                    return false;
                }
                throw new ProtocolViolationException(PEER, null, "connection ended inside a message: got " + got + " of " + wanted
                        + (eofOk ? " header bytes" : " payload bytes"));
            }
        }
        return true;
    }

    private static String hex(ByteBuffer bytes) {
        StringBuilder sb = new StringBuilder();
        for (int i = bytes.position(); i < bytes.limit(); i++) {
            sb.append(String.format("%02x", bytes.get(i)));
        }
        return sb.toString();
    }
}
