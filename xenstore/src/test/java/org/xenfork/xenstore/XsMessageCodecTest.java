package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.arbitrary;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ProtocolViolationException;

/** Framing: golden bytes, header checks before allocation, reassembly of split reads. */
class XsMessageCodecTest {

    private static final HexFormat HEX = HexFormat.of();

    /** A channel that serves {@code bytes} at most {@code chunk} bytes per read, then EOF. */
    static final class ChunkedChannel implements ReadableByteChannel {
        private final ByteBuffer data;
        private final int chunk;
        int reads;

        ChunkedChannel(byte[] bytes, int chunk) {
            this.data = ByteBuffer.wrap(bytes);
            this.chunk = chunk;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (!data.hasRemaining()) {
                return -1;
            }
            reads++;
            int n = Math.min(chunk, Math.min(dst.remaining(), data.remaining()));
            ByteBuffer piece = data.slice();
            piece.limit(n);
            dst.put(piece);
            data.position(data.position() + n);
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    @Test
    void encodesTheHeaderAsFourHostEndianWordsThenThePayload() {
        assertThat(ByteOrder.nativeOrder()).as("Xen's platforms, and this test's golden bytes, are little-endian")
                .isEqualTo(ByteOrder.LITTLE_ENDIAN);
        XsMessage m = new XsMessage(XsMessageType.WRITE, 0x01020304, 7, "/a\0b".getBytes());
        assertThat(HEX.formatHex(bytes(XsMessageCodec.encode(m))))
                .isEqualTo("0b000000" + "04030201" + "07000000" + "04000000" + "2f610062");
    }

    @Test
    void unsignedIdsSurviveTheRoundTrip() throws IOException {
        XsMessage m = new XsMessage(XsMessageType.TRANSACTION_END, 0xffff_fffe, 0x8000_0000, "T\0".getBytes());
        ByteBuffer frame = XsMessageCodec.encode(m);
        assertThat(HEX.formatHex(bytes(frame), 0, 12)).isEqualTo("07000000feffffff00000080");
        assertThat(XsMessageCodec.read(new ChunkedChannel(bytes(frame), 100))).isEqualTo(m);
    }

    @Test
    void decodesAGoldenWatchEvent() throws IOException {
        byte[] wire = HEX.parseHex("0f000000" + "00000000" + "00000000" + "08000000" + "2f7800746f6b3100");
        XsMessage m = XsMessageCodec.read(new ChunkedChannel(wire, 3));
        assertThat(m).isEqualTo(new XsMessage(XsMessageType.WATCH_EVENT, 0, 0, "/x\0tok1\0".getBytes()));
    }

    @Test
    void everyTypeAndEverySplitRoundTrips() {
        Gen<XsMessageType> types = arbitrary().enumValues(XsMessageType.class);
        Gen<byte[]> payloads = lists().of(integers().between(0, 255)).ofSizeBetween(0, XsWire.PAYLOAD_MAX).map(l -> {
            byte[] b = new byte[l.size()];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) (int) l.get(i);
            }
            return b;
        });
        qt().withFixedSeed(0x5157_0417L).withExamples(300).withShrinkCycles(100)
                .forAll(types, integers().all(), integers().all(), payloads.mix(payloads, 50))
                .checkAssert((type, req, tx, payload) -> {
                    XsMessage m = new XsMessage(type, req, tx, payload);
                    byte[] frame = bytes(XsMessageCodec.encode(m));
                    assertThat(frame).hasSize(XsWire.HEADER_SIZE + payload.length);
                    for (int chunk : List.of(1, 7, 4112)) {
                        try {
                            assertThat(XsMessageCodec.read(new ChunkedChannel(frame, chunk))).isEqualTo(m);
                        } catch (IOException e) {
                            throw new AssertionError(e);
                        }
                    }
                });
    }

    @Test
    void backToBackMessagesAreReadOneAtATime() throws IOException {
        XsMessage a = new XsMessage(XsMessageType.READ, 1, 0, "/a\0".getBytes());
        XsMessage b = new XsMessage(XsMessageType.ERROR, 2, 0, "ENOENT\0".getBytes());
        ByteBuffer both = ByteBuffer.allocate(100);
        both.put(XsMessageCodec.encode(a)).put(XsMessageCodec.encode(b)).flip();
        ChunkedChannel in = new ChunkedChannel(bytes(both), 1000);
        assertThat(XsMessageCodec.read(in)).isEqualTo(a);
        assertThat(XsMessageCodec.read(in)).isEqualTo(b);
        assertThatThrownBy(() -> XsMessageCodec.read(in)).isInstanceOf(ConnectionClosedException.class);
    }

    @Test
    void unknownTypesAreProtocolErrors() {
        for (int type : new int[] {20, 23, XsMessageType.INVALID, -1}) {
            byte[] wire = bytes(ByteBuffer.allocate(16).order(ByteOrder.nativeOrder()).putInt(type).putInt(0).putInt(0).putInt(0).flip());
            assertThatThrownBy(() -> XsMessageCodec.read(new ChunkedChannel(wire, 16)))
                    .as("type %d", type).isInstanceOf(ProtocolViolationException.class)
                    .hasMessageStartingWith("unknown message type " + Integer.toUnsignedString(type));
        }
    }

    @Test
    void lengthAboveThePayloadMaxIsRefusedBeforeAnyPayloadIsRead() {
        for (long len : new long[] {XsWire.PAYLOAD_MAX + 1, 0x7fff_ffffL, 0xffff_ffffL}) {
            byte[] header = bytes(ByteBuffer.allocate(16).order(ByteOrder.nativeOrder())
                    .putInt(XsMessageType.READ.code()).putInt(1).putInt(0).putInt((int) len).flip());
            ChunkedChannel in = new ChunkedChannel(header, 16);
            assertThatThrownBy(() -> XsMessageCodec.read(in)).isInstanceOf(ProtocolViolationException.class)
                    .hasMessage("XS_READ header announces " + len + " payload bytes, more than XENSTORE_PAYLOAD_MAX (4096)");
            assertThat(in.reads).as("only the header was read").isEqualTo(1);
        }
    }

    @Test
    void exactlyThePayloadMaxIsAccepted() throws IOException {
        XsMessage m = new XsMessage(XsMessageType.READ, 1, 0, new byte[XsWire.PAYLOAD_MAX]);
        assertThat(XsMessageCodec.read(new ChunkedChannel(bytes(XsMessageCodec.encode(m)), 999))).isEqualTo(m);
    }

    @Test
    void endOfStreamInsideAMessageIsAProtocolError() {
        byte[] frame = bytes(XsMessageCodec.encode(new XsMessage(XsMessageType.READ, 1, 0, "value".getBytes())));
        assertThatThrownBy(() -> XsMessageCodec.read(new ChunkedChannel(java.util.Arrays.copyOf(frame, 9), 4)))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessage("connection ended inside a message: got 9 of 16 header bytes");
        assertThatThrownBy(() -> XsMessageCodec.read(new ChunkedChannel(java.util.Arrays.copyOf(frame, 18), 4)))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessage("connection ended inside a message: got 2 of 5 payload bytes");
    }

    @Test
    void endOfStreamBetweenMessagesIsAClose() {
        assertThatThrownBy(() -> XsMessageCodec.read(new ChunkedChannel(new byte[0], 1)))
                .isInstanceOf(ConnectionClosedException.class).hasMessage("xenstored closed the connection");
    }

    @Test
    void messageRefusesAnOversizedPayload() {
        assertThatThrownBy(() -> new XsMessage(XsMessageType.WRITE, 0, 0, new byte[XsWire.PAYLOAD_MAX + 1]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("XS_WRITE payload of 4097 bytes exceeds XENSTORE_PAYLOAD_MAX (4096)");
    }

    @Test
    void messageIsImmutableAndPrintable() {
        byte[] payload = "/a\0\u0001".getBytes();
        XsMessage m = new XsMessage(XsMessageType.WRITE, -1, 0, payload);
        payload[0] = 'X';
        m.payload()[1] = 'Y';
        assertThat(m.payload()).isEqualTo("/a\0\u0001".getBytes());
        assertThat(m).hasToString("XS_WRITE req=4294967295 tx=0 \"/a\\0\\x01\"");
        assertThat(m.withReqId(5).reqId()).isEqualTo(5);
    }

    @Test
    void typeLookupFollowsTheWireValuesNotTheOrdinals() {
        assertThat(XsMessageType.fromCode(21)).contains(XsMessageType.RESET_WATCHES);
        assertThat(XsMessageType.fromCode(22)).contains(XsMessageType.DIRECTORY_PART);
        assertThat(XsMessageType.fromCode(20)).isEmpty();
        assertThat(XsMessageType.RESET_WATCHES.ordinal()).isEqualTo(20);
        assertThat(XsMessageType.WATCH_EVENT.cName()).isEqualTo("XS_WATCH_EVENT");
    }
}
