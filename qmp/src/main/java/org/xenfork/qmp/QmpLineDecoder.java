package org.xenfork.qmp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.TooLongFrameException;

/**
 * Framing: Netty's {@link LineBasedFrameDecoder}, with the QMP message bound applied exactly. Netty counts a
 * CR that waits for its LF as part of the line, so with the bound as its maximum a line of exactly the bound
 * would be refused whenever a read ended between QEMU's CR and LF. Netty is given one byte more (room for
 * that CR, so it still fails fast on an endless line), and a frame over the bound is refused here.
 */
final class QmpLineDecoder extends LineBasedFrameDecoder {
    private final int maxMessageBytes;

    QmpLineDecoder(int maxMessageBytes) {
        super(maxMessageBytes + 1, true, true);
        this.maxMessageBytes = maxMessageBytes;
    }

    @Override
    protected Object decode(ChannelHandlerContext ctx, ByteBuf buffer) throws Exception {
        Object frame = super.decode(ctx, buffer);
        if (frame instanceof ByteBuf line && line.readableBytes() > maxMessageBytes) { // a bare-LF line of bound + 1
            int length = line.readableBytes();
            line.release();
            throw new TooLongFrameException("frame length (" + length + ") exceeds the allowed maximum ("
                    + maxMessageBytes + ")");
        }
        return frame;
    }
}
