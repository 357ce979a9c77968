package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;
import static org.quicktheories.generators.SourceDSL.strings;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Framing alone, on an {@link EmbeddedChannel}: line ends, blank lines, the bound, arbitrary chunking. */
class QmpFrameDecoderTest {

    private static List<String> feed(QmpFrameDecoder decoder, String... chunks) {
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        List<String> frames = new ArrayList<>();
        for (String chunk : chunks) {
            ch.writeInbound(Unpooled.copiedBuffer(chunk, StandardCharsets.ISO_8859_1));
            drain(ch, frames);
        }
        ch.finishAndReleaseAll();
        return frames;
    }

    private static void drain(EmbeddedChannel ch, List<String> frames) {
        ByteBuf b;
        while ((b = ch.readInbound()) != null) {
            frames.add(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
    }

    @Test
    void cutsAtCrlfAndAtBareLf() {
        assertThat(feed(new QmpFrameDecoder(100), "{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}\r\n"))
                .containsExactly("{\"a\":1}", "{\"b\":2}", "{\"c\":3}");
    }

    @Test
    void aLineSplitAnywhereIsOneFrameAndAnIncompleteTailWaits() {
        assertThat(feed(new QmpFrameDecoder(100), "{\"ret", "urn\":{}}\r", "\n{\"x\"")).containsExactly("{\"return\":{}}");
    }

    @Test
    void blankLinesAreSkipped() {
        assertThat(feed(new QmpFrameDecoder(100), "\r\n\n  \r\n{}\r\n\t\n")).containsExactly("{}");
    }

    @Test
    void aLineOfExactlyTheBoundPassesWithItsCrlf() {
        String line = "x".repeat(64);
        assertThat(feed(new QmpFrameDecoder(64), line + "\r\n")).containsExactly(line);
        assertThat(feed(new QmpFrameDecoder(64), line, "\r", "\n")).containsExactly(line);
    }

    @Test
    void aLineOneByteOverTheBoundIsRefusedNamingTheBound() {
        EmbeddedChannel ch = new EmbeddedChannel(new QmpFrameDecoder(1024));
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.copiedBuffer("y".repeat(1025) + "\r\n", StandardCharsets.US_ASCII)))
                .isInstanceOf(DecoderException.class)
                .cause().isInstanceOf(QmpProtocolException.class)
                .hasMessageContaining("a line of 1025 bytes")
                .hasMessageContaining("1 KiB (1024 bytes)")
                .hasMessageContaining("QmpOptions.maxMessageBytes");
        ch.finishAndReleaseAll();
    }

    @Test
    void anEndlessLineIsRefusedAsSoonAsItPassesTheBoundNotAtItsEnd() {
        EmbeddedChannel ch = new EmbeddedChannel(new QmpFrameDecoder(1000));
        ch.writeInbound(Unpooled.copiedBuffer("z".repeat(1001), StandardCharsets.US_ASCII)); // 1000 + a CR may still be fine
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.copiedBuffer("z", StandardCharsets.US_ASCII)))
                .cause().isInstanceOf(QmpProtocolException.class)
                .hasMessageContaining("more than 1000 bytes without a line end")
                .hasMessageContaining("1000 bytes");
        ch.finishAndReleaseAll();
    }

    @Test
    void anyChunkingOfAnyLinesGivesTheSameFrames() {
        qt().withFixedSeed(0x51454d55L).withExamples(300)
                .forAll(lists().of(strings().basicLatinAlphabet().ofLengthBetween(1, 40)).ofSizeBetween(0, 12),
                        integers().between(1, 17),
                        integers().between(0, 1))
                .checkAssert((lines, chunk, crlfSeed) -> {
                    List<String> expected = new ArrayList<>();
                    StringBuilder wire = new StringBuilder();
                    int k = 0;
                    for (String raw : lines) {
                        String line = raw.replace('\n', '.').replace('\r', '.');
                        if (!line.isBlank()) {
                            expected.add(line);
                        }
                        wire.append(line).append((k++ + crlfSeed) % 2 == 0 ? "\r\n" : "\n");
                    }
                    List<String> chunks = new ArrayList<>();
                    for (int i = 0; i < wire.length(); i += chunk) {
                        chunks.add(wire.substring(i, Math.min(wire.length(), i + chunk)));
                    }
                    assertThat(feed(new QmpFrameDecoder(40), chunks.toArray(String[]::new))).isEqualTo(expected);
                });
    }
}
