package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class XsPermissionTest {

    @Test
    void parsesXensFourLetters() {
        assertThat(XsPermission.parse("n0")).isEqualTo(XsPermission.none(0));
        assertThat(XsPermission.parse("r5")).isEqualTo(new XsPermission(XsPermission.Access.READ, 5));
        assertThat(XsPermission.parse("w2")).isEqualTo(XsPermission.write(2));
        assertThat(XsPermission.parse("b7")).isEqualTo(XsPermission.both(7));
        assertThat(XsPermission.parse("b65535").domid()).isEqualTo(65535);
    }

    @Test
    void printsTheWireForm() {
        assertThat(XsPermission.read(12)).hasToString("r12");
        assertThat(XsPermission.both(0)).hasToString("b0");
        assertThat(XsPermission.Access.WRITE.letter()).isEqualTo('w');
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "r", "x5", "R5", "r-1", "r+1", "r 1", "r05", "r65536", "r123456", "5r", "rr5"})
    void refusesAnythingElse(String s) {
        assertThatThrownBy(() -> XsPermission.parse(s)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("permission");
    }

    /** What is parsed may come from xenstored (XsRepliesFuzzTest found an escape sequence in a message). */
    @Test
    void aRefusalQuotesTheTextEscapedAndShort() {
        assertThatThrownBy(() -> XsPermission.parse("\u001b[2J")).hasMessage("not a xenstore permission (want n, r, w or b first): \"\\x1b[2J\"");
        assertThatThrownBy(() -> XsPermission.parse("r" + "9".repeat(100)))
                .hasMessage("not a xenstore permission (bad domid): \"r" + "9".repeat(39) + "\"... (101 bytes)");
    }

    @Test
    void domidMustFitDomidT() {
        assertThatThrownBy(() -> XsPermission.read(-1)).hasMessage("domid -1 outside 0..65535");
        assertThatThrownBy(() -> XsPermission.read(65536)).hasMessage("domid 65536 outside 0..65535");
    }
}
