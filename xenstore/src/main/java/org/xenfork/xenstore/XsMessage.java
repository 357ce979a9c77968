package org.xenfork.xenstore;

import java.util.Arrays;
import java.util.Objects;

/**
 * One xenstore message: the {@code struct xsd_sockmsg} header fields and the
 * payload that follows it. {@code reqId} and {@code txId} are C {@code uint32_t}
 * held in an {@code int}; read them with {@link Integer#toUnsignedLong} when printing.
 * The header's {@code len} is not stored: it is the payload's length.
 *
 * <p>The payload is copied in and out, so a message is immutable.
 */
public record XsMessage(XsMessageType type, int reqId, int txId, byte[] payload) {

    public XsMessage {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(payload, "payload");
        if (payload.length > XsWire.PAYLOAD_MAX) {
            throw new IllegalArgumentException(type.cName() + " payload of " + payload.length
                    + " bytes exceeds XENSTORE_PAYLOAD_MAX (" + XsWire.PAYLOAD_MAX + ")");
        }
        payload = payload.clone();
    }

    @Override
    public byte[] payload() {
        return payload.clone();
    }

    /** Payload length without copying it. */
    public int length() {
        return payload.length;
    }

    /** This message with another request id (the connection assigns ids when it sends). */
    public XsMessage withReqId(int newReqId) {
        return new XsMessage(type, newReqId, txId, payload);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof XsMessage m && m.type == type && m.reqId == reqId && m.txId == txId
                && Arrays.equals(m.payload, payload);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, reqId, txId, Arrays.hashCode(payload));
    }

    /** E.g. {@code XS_WRITE req=3 tx=0 "/a\0b"}: non-printable bytes escaped, long payloads cut. */
    @Override
    public String toString() {
        return type.cName() + " req=" + Integer.toUnsignedString(reqId) + " tx=" + Integer.toUnsignedString(txId)
                + " " + XsPayload.printable(payload, 80);
    }
}
