package org.xenfork.qmp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;
import java.nio.charset.StandardCharsets;

/**
 * Outbound framing: the command head, then <code>,"id":N}</code> and CRLF. QEMU's parser is a streaming one and needs no line end; the
 * CRLF keeps a wire log readable and matches what QEMU itself sends.
 */
final class QmpCommandEncoder extends MessageToByteEncoder<QmpCommand> {

    QmpCommandEncoder() {
        super(QmpCommand.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, QmpCommand command, ByteBuf out) {
        out.writeBytes(command.head());
        out.writeCharSequence(",\"id\":", StandardCharsets.US_ASCII);
        out.writeCharSequence(Long.toString(command.id()), StandardCharsets.US_ASCII);
        out.writeCharSequence("}\r\n", StandardCharsets.US_ASCII);
    }
}
