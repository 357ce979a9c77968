package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.xenfork.wire.ProtocolViolationException;

class XsPayloadTest {

    @Test
    void stringsAreEachNulTerminated() {
        assertThat(XsPayload.strings("/a", "tok")).isEqualTo("/a\0tok\0".getBytes(StandardCharsets.US_ASCII));
        assertThat(XsPayload.strings("")).isEqualTo(new byte[] {0});
        assertThatThrownBy(() -> XsPayload.strings("a\0b")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void splitNeedsATerminatorAndKeepsEmptyStrings() throws Exception {
        assertThat(XsPayload.splitStrings(new byte[0])).isEmpty();
        assertThat(XsPayload.splitStrings("a\0\0b\0".getBytes(StandardCharsets.US_ASCII))).containsExactly("a", "", "b");
        assertThatThrownBy(() -> XsPayload.splitStrings("a\0b".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(ProtocolViolationException.class);
    }

    @Test
    void singleStringDropsOneTerminatorOnly() throws Exception {
        assertThat(XsPayload.singleString("42\0".getBytes(StandardCharsets.US_ASCII))).isEqualTo("42");
        assertThat(XsPayload.singleString("42".getBytes(StandardCharsets.US_ASCII))).isEqualTo("42");
        assertThatThrownBy(() -> XsPayload.singleString("4\0002\0".getBytes(StandardCharsets.US_ASCII)))
                .isInstanceOf(ProtocolViolationException.class);
    }

    @Test
    void printableEscapesAndCuts() {
        assertThat(XsPayload.printable(new byte[] {'a', 0, (byte) 0xff, '"'}, 10)).isEqualTo("\"a\\0\\xff\\\"\"");
        assertThat(XsPayload.printable("abcdef".getBytes(StandardCharsets.US_ASCII), 3)).isEqualTo("\"abc\"... (6 bytes)");
    }
}
