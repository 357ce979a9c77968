package org.xenfork.qmp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Framing, and nothing else: QEMU ends every message it sends with CRLF (qmp-spec 2.1.1), one JSON object
 * per line. This decoder cuts the byte stream at each LF, drops the LF and a CR just before it, skips lines
 * that are empty or only blanks, and emits each line as a {@link ByteBuf} slice. It knows nothing of JSON.
 *
 * <p>Bound: a line whose content is longer than {@code maxLength} bytes is refused with a
 * {@link QmpProtocolException} naming the bound, as soon as more than that many bytes have arrived without
 * an LF — the decoder never buffers more than {@code maxLength + 1} bytes of one line. After that the
 * connection is closed by the session: the stream cannot be resynchronised reliably.
 */
final class QmpFrameDecoder extends ByteToMessageDecoder {

    private final int maxLength;
    /** Bytes after the reader index already searched for an LF without finding one. */
    private int searched;
    /** After a refused line, everything else is discarded: the stream is not trusted any more. */
    private boolean failed;

    QmpFrameDecoder(int maxLength) {
        if (maxLength < 1) {
            throw new IllegalArgumentException("maxLength must be positive: " + maxLength);
        }
        this.maxLength = maxLength;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws QmpProtocolException {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        int start = in.readerIndex();
        int lf = in.indexOf(start + searched, in.writerIndex(), (byte) '\n');
        if (lf < 0) {
            searched = in.readableBytes();
            // maxLength content bytes plus a CR may legitimately wait for their LF; one byte more may not.
            if (in.readableBytes() > maxLength + 1) {
                throw tooLong("more than " + maxLength + " bytes without a line end");
            }
            return;
        }
        searched = 0;
        int lineLength = lf - start;
        int content = lineLength > 0 && in.getByte(lf - 1) == '\r' ? lineLength - 1 : lineLength;
        if (content > maxLength) {
            throw tooLong("a line of " + content + " bytes");
        }
        if (isBlank(in, start, content)) {
            in.skipBytes(lineLength + 1);
            return;
        }
        ByteBuf frame = in.readRetainedSlice(content);
        in.skipBytes(lineLength - content + 1);
        out.add(frame);
    }

    private QmpProtocolException tooLong(String what) {
        failed = true;
        return new QmpProtocolException("QEMU sent " + what + ", over the QMP message bound of "
                + Texts.bytes(maxLength) + " (QmpOptions.maxMessageBytes)");
    }

    private static boolean isBlank(ByteBuf in, int from, int length) {
        for (int i = from; i < from + length; i++) {
            byte b = in.getByte(i);
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }
}
