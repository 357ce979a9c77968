package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.strings;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.TooLongFrameException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Framing alone, on an {@link EmbeddedChannel}, as {@link QmpClient#framing} configures Netty's
 * {@code LineBasedFrameDecoder}: line ends, the bound, arbitrary chunking; and blank lines, which framing
 * passes on and {@link QmpMessageDecoder} passes over.
 */
class QmpFramingTest {

    private static List<String> feed(ChannelHandler decoder, String... chunks) {
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        List<String> frames = new ArrayList<>();
        for (String chunk : chunks) {
            ch.writeInbound(Unpooled.copiedBuffer(chunk, StandardCharsets.ISO_8859_1));
            ByteBuf b;
            while ((b = ch.readInbound()) != null) {
                frames.add(b.toString(StandardCharsets.ISO_8859_1));
                b.release();
            }
        }
        ch.finishAndReleaseAll();
        return frames;
    }

    @Test
    void cutsAtCrlfAndAtBareLf() {
        assertThat(feed(QmpClient.framing(100), "{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}\r\n"))
                .containsExactly("{\"a\":1}", "{\"b\":2}", "{\"c\":3}");
    }

    @Test
    void aLineSplitAnywhereIsOneFrameAndAnIncompleteTailWaits() {
        assertThat(feed(QmpClient.framing(100), "{\"ret", "urn\":{}}\r", "\n{\"x\"")).containsExactly("{\"return\":{}}");
    }

    @Test
    void blankLinesAreFramesThatCarryNoMessage() {
        assertThat(feed(QmpClient.framing(100), "\r\n  \r\n{}\n")).containsExactly("", "  ", "{}");
        EmbeddedChannel ch = new EmbeddedChannel(QmpClient.framing(100), new QmpMessageDecoder());
        ch.writeInbound(Unpooled.copiedBuffer("\r\n\n  \r\n{\"return\": {}, \"id\": 1}\r\n\t\n", StandardCharsets.US_ASCII));
        QmpMessage m = ch.readInbound();
        assertThat(m).isInstanceOf(QmpMessage.Return.class);
        Object next = ch.readInbound();
        assertThat(next).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void aLineOfExactlyTheBoundPassesWithItsLineEnd() {
        String line = "x".repeat(64);
        assertThat(feed(QmpClient.framing(64), line + "\r\n")).containsExactly(line);
        assertThat(feed(QmpClient.framing(64), line, "\r\n")).containsExactly(line);
        assertThat(feed(QmpClient.framing(64), line, "\n")).containsExactly(line);
    }

    /** Netty counts a CR that waits for its LF as part of the line; the bound must not (a read may end there). */
    @Test
    void aLineOfExactlyTheBoundWhoseCrComesAloneStillPasses() {
        String line = "x".repeat(64);
        assertThat(feed(QmpClient.framing(64), line, "\r", "\n")).containsExactly(line);
    }

    @Test
    void aLineOneByteOverTheBoundIsRefusedWhateverItsLineEnd() {
        for (String end : List.of("\r\n", "\n")) {
            EmbeddedChannel ch = new EmbeddedChannel(QmpClient.framing(1024));
            assertThatThrownBy(() -> ch.writeInbound(Unpooled.copiedBuffer("y".repeat(1025) + end, StandardCharsets.US_ASCII)))
                    .isInstanceOf(TooLongFrameException.class)
                    .hasMessage("frame length (1025) exceeds the allowed maximum (1024)");
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void anEndlessLineIsRefusedAsSoonAsItPassesTheBoundAndACrNotAtItsEnd() {
        EmbeddedChannel ch = new EmbeddedChannel(QmpClient.framing(1000));
        ch.writeInbound(Unpooled.copiedBuffer("z".repeat(1001), StandardCharsets.US_ASCII)); // the bound and a CR's room
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.copiedBuffer("z", StandardCharsets.US_ASCII)))
                .isInstanceOf(TooLongFrameException.class);
        ch.finishAndReleaseAll();
    }

    @Test
    void anyChunkingOfAnyLinesGivesTheSameFrames() {
        // Lines up to exactly the bound, cut anywhere, a CR from its LF included.
        qt().withFixedSeed(0x51454d55L).withExamples(300)
                .forAll(lists().of(strings().basicLatinAlphabet().ofLengthBetween(0, 40)).ofSizeBetween(0, 12),
                        integers().between(1, 17),
                        integers().between(0, 1))
                .checkAssert((lines, chunk, crlfSeed) -> {
                    List<String> expected = new ArrayList<>();
                    StringBuilder wire = new StringBuilder();
                    int k = 0;
                    for (String raw : lines) {
                        String line = raw.replace('\n', '.').replace('\r', '.');
                        expected.add(line);
                        wire.append(line).append((k++ + crlfSeed) % 2 == 0 ? "\r\n" : "\n");
                    }
                    List<String> chunks = new ArrayList<>();
                    for (int i = 0; i < wire.length(); i += chunk) {
                        chunks.add(wire.substring(i, Math.min(wire.length(), i + chunk)));
                    }
                    assertThat(feed(QmpClient.framing(40), chunks.toArray(String[]::new))).isEqualTo(expected);
                });
    }
}
