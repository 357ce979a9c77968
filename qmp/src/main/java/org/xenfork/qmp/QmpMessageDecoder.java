package org.xenfork.qmp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.xenfork.wire.ProtocolViolationException;

/**
 * Meaning, after framing: parses each line as one JSON value with Jackson's streaming parser
 * ({@link QmpJson}) and classifies it ({@link QmpMessage#of}). A line that is not exactly one JSON value
 * (trailing tokens count) is a {@link ProtocolViolationException} quoting the start of the line. A line of
 * blanks only carries no message and is passed over: framing ({@code LineBasedFrameDecoder}) hands every
 * line on, empty ones included.
 */
final class QmpMessageDecoder extends MessageToMessageDecoder<ByteBuf> {

    QmpMessageDecoder() {
        super(ByteBuf.class);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf frame, List<Object> out) throws IOException {
        if (!isBlank(frame)) {
            int lineBytes = frame.readableBytes();
            out.add(QmpMessage.of(parse(frame), lineBytes));
        }
    }

    private static boolean isBlank(ByteBuf frame) {
        for (int i = frame.readerIndex(); i < frame.writerIndex(); i++) {
            byte b = frame.getByte(i);
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }

    static JsonNode parse(ByteBuf frame) throws ProtocolViolationException {
        int start = frame.readerIndex();
        int length = frame.readableBytes();
        try (InputStream in = new ByteBufInputStream(frame)) {
            JsonNode node = QmpJson.parse(in);
            if (node == null || node.isMissingNode()) {
                throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent a line with no JSON value: " + quote(frame, start, length));
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new ProtocolViolationException(Texts.QEMU, null, "QEMU sent a line that is not JSON (" + Texts.excerpt(e.getOriginalMessage(), 200) + "): "
                    + quote(frame, start, length), e);
        } catch (IOException e) {
            throw new ProtocolViolationException(Texts.QEMU, null, "cannot read a QMP line: " + e.getMessage(), e);
        }
    }

    private static String quote(ByteBuf frame, int start, int length) {
        int n = Math.min(length, 200);
        String text = frame.toString(start, n, StandardCharsets.ISO_8859_1);
        return "\"" + Texts.excerpt(text, 200) + (length > n ? "… (" + length + " bytes)" : "") + "\"";
    }
}
