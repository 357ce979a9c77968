package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.xenfork.wire.ProtocolViolationException;

/** Meaning alone: what each JSON line is, with the exact JSON Debian's QEMU 7.2.22 sent (docs/QMP.md). */
class QmpMessageTest {

    private static QmpMessage parse(String line) throws ProtocolViolationException {
        ByteBuf bytes = Unpooled.copiedBuffer(line, StandardCharsets.UTF_8);
        return QmpMessage.of(QmpMessageDecoder.parse(bytes), bytes.writerIndex());
    }

    @Test
    void theGreetingOfQemu72() throws Exception {
        QmpMessage m = parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
                + "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}");
        assertThat(m).isInstanceOf(QmpMessage.Greeting.class);
        QmpGreeting g = ((QmpMessage.Greeting) m).greeting();
        assertThat(g.version()).isEqualTo("7.2.22");
        assertThat(g.packageName()).isEqualTo("Debian 1:7.2+dfsg-7+deb12u18+b3");
        assertThat(g.capabilities()).containsExactly("oob");
        assertThat(g.atLeast(7, 2)).isTrue();
        assertThat(g.atLeast(7, 3)).isFalse();
        assertThat(g.atLeast(6, 9)).isTrue();
    }

    @Test
    void aGreetingWithoutVersionNumbersIsAProtocolError() {
        assertThatThrownBy(() -> parse("{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\"}}, \"capabilities\": []}}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("malformed QMP greeting");
    }

    @Test
    void returnAndErrorKeepTheirIds() throws Exception {
        QmpMessage r = parse("{\"return\": {\"status\": \"running\"}, \"id\": 7}");
        assertThat(r).isInstanceOf(QmpMessage.Return.class);
        assertThat(((QmpMessage.Return) r).id().longValue()).isEqualTo(7);
        assertThat(((QmpMessage.Return) r).value().get("status").textValue()).isEqualTo("running");

        QmpMessage e = parse("{\"id\": \"e5\", \"error\": {\"class\": \"CommandNotFound\", "
                + "\"desc\": \"The command no-such-command has not been found\"}}");
        assertThat(e).isInstanceOf(QmpMessage.Error.class);
        QmpMessage.Error err = (QmpMessage.Error) e;
        assertThat(err.id().textValue()).isEqualTo("e5");
        assertThat(err.errorClass()).isEqualTo("CommandNotFound");
        assertThat(err.desc()).isEqualTo("The command no-such-command has not been found");
    }

    @Test
    void anEventIsAnEventEvenWithIdAndReturnMembers() throws Exception {
        QmpMessage m = parse("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 250}, \"event\": \"RESUME\", "
                + "\"id\": 3, \"return\": {}}");
        assertThat(m).isInstanceOf(QmpMessage.Event.class);
        QmpEvent e = ((QmpMessage.Event) m).event();
        assertThat(e.name()).isEqualTo("RESUME");
        assertThat(e.data().isObject()).isTrue();
        assertThat(e.data().size()).isZero();
        assertThat(e.timestamp()).isEqualTo(Instant.ofEpochSecond(1700000000, 250_000));
    }

    @Test
    void eventDataIsKept() throws Exception {
        QmpEvent e = ((QmpMessage.Event) parse("{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, "
                + "\"reason\": \"host-qmp-quit\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}")).event();
        assertThat(e.data().get("reason").textValue()).isEqualTo("host-qmp-quit");
    }

    private static QmpEvent eventWith(String timestamp) throws ProtocolViolationException {
        return ((QmpMessage.Event) parse("{\"event\": \"RESUME\", \"timestamp\": " + timestamp + "}")).event();
    }

    /**
     * Issue 16, item 7: a timestamp out of Instant's range ended the session with a DateTimeException. Such an event
     * is kept, without a timestamp; so is one whose microseconds would overflow (the fuzzer's find: an instant in
     * 2023 from microseconds of -2^63) and every other timestamp that is no instant.
     */
    @Test
    void anEventWhoseTimestampIsNoInstantIsKeptWithoutOne() throws Exception {
        assertThat(eventWith("{\"seconds\": 9223372036854775807, \"microseconds\": 0}").timestamp()).isNull();
        assertThat(eventWith("{\"seconds\": 1700000090, \"microseconds\": -9223372036854775808}").timestamp()).isNull();
        for (String ts : new String[] {
                "{\"seconds\": -9223372036854775808, \"microseconds\": -1}", // an ArithmeticException once
                "{\"seconds\": 31556889864403200, \"microseconds\": 0}", // Instant.MAX's second + 1
                "{\"seconds\": -31557014167219200, \"microseconds\": -1}", // just before Instant.MIN
                "{\"seconds\": 1700000000, \"microseconds\": 1000000}",
                "{\"seconds\": 1700000000, \"microseconds\": -1000000}",
                "{\"seconds\": -1, \"microseconds\": -1}", // older QEMU: could not read the clock
                "{\"seconds\": 9223372036854775808, \"microseconds\": 0}",
                "{\"seconds\": 1700000000.5, \"microseconds\": 0}",
                "{\"seconds\": \"1700000000\", \"microseconds\": 0}",
                "{\"seconds\": 1700000000}",
                "[1700000000, 0]",
                "null"}) {
            QmpEvent e = eventWith(ts);
            assertThat(e.name()).isEqualTo("RESUME");
            assertThat(e.timestamp()).as(ts).isNull();
        }
        assertThat(((QmpMessage.Event) parse("{\"event\": \"RESUME\"}")).event().timestamp()).isNull();
    }

    @Test
    void everyTimestampThatIsAnInstantIsKept() throws Exception {
        // QEMU's C remainder: 1.5 s before 1970 is seconds -1, microseconds -500000.
        assertThat(eventWith("{\"seconds\": -1, \"microseconds\": -500000}").timestamp()).isEqualTo(Instant.ofEpochMilli(-1500));
        assertThat(eventWith("{\"seconds\": 0, \"microseconds\": 0}").timestamp()).isEqualTo(Instant.EPOCH);
        assertThat(eventWith("{\"seconds\": 31556889864403199, \"microseconds\": 999999}").timestamp())
                .isEqualTo(Instant.MAX.minusNanos(999));
        assertThat(eventWith("{\"seconds\": -31557014167219200, \"microseconds\": 0}").timestamp()).isEqualTo(Instant.MIN);
    }

    /**
     * Found by QmpRepliesFuzzTest: Jackson's own words quote the bytes it choked on, control characters included,
     * and went into the message as they were; and a QMP error's class and desc went into QmpErrorException's message
     * as QEMU sent them. A hostile peer's bytes reach a message only escaped and cut short.
     */
    @Test
    void refusalsQuoteThePeerEscapedAndShort() {
        assertThatThrownBy(() -> parse("fa\u0016se"))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessage("QEMU sent a line that is not JSON (Unrecognized token 'fa\\x16se': was expecting (JSON String, "
                        + "Number, Array, Object or token 'null', 'true' or 'false')): \"fa\\x16se\"");
        QmpErrorException e = new QmpErrorException("qmp_capabilities", "DeviceNotFound\u001b[2J", "7\u009b\u009b" + "x".repeat(1000));
        assertThat(e.getMessage()).isEqualTo("QEMU refused qmp_capabilities: DeviceNotFound\\x1b[2J: 7\\x9b\\x9b" + "x".repeat(497)
                + "… (1003 characters)");
        assertThat(e.desc()).isEqualTo("7\u009b\u009b" + "x".repeat(1000));
        assertThat(e.rawClass()).isEqualTo("DeviceNotFound\u001b[2J");
        assertThat(Texts.excerpt("€\udfff😀", 10)).isEqualTo("\\u20ac\\udfff\\ud83d\\ude00");
    }

    @Test
    void whatIsNotOneOfTheFourKindsIsAProtocolError() {
        assertThatThrownBy(() -> parse("[1,2]")).isInstanceOf(ProtocolViolationException.class).hasMessageContaining("not an object");
        assertThatThrownBy(() -> parse("{\"hello\": 1}")).isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("neither greeting, reply nor event");
        assertThatThrownBy(() -> parse("{\"return\": {}, \"error\": {\"class\": \"GenericError\"}}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("both return and error");
        assertThatThrownBy(() -> parse("{\"error\": {\"desc\": \"no class\"}}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("without a class");
        assertThatThrownBy(() -> parse("{\"event\": 5}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("without a name");
    }

    @Test
    void garbageAndTrailingTokensAreNotJsonAndAreQuotedEscaped() {
        assertThatThrownBy(() -> parse("\u0001\u00ffhello"))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("not JSON")
                .hasMessageContaining("\\x01\\xc3\\xbfhello");
        assertThatThrownBy(() -> parse("{\"return\": {}}}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("not JSON");
        assertThatThrownBy(() -> parse("{\"return\": {}} {\"return\": {}}"))
                .isInstanceOf(ProtocolViolationException.class).hasMessageContaining("not JSON");
    }

    @Test
    void errorClassesMapAndUnknownKeepsTheRawString() {
        for (String wire : new String[] {"GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound", "KVMMissingCap"}) {
            QmpErrorException e = new QmpErrorException("cmd", wire, "d");
            assertThat(e.errorClass().name()).isEqualTo(wire);
            assertThat(e.rawClass()).isEqualTo(wire);
        }
        QmpErrorException odd = new QmpErrorException("cmd", "MigrationExpected", "x");
        assertThat(odd.errorClass()).isEqualTo(QmpErrorClass.UNKNOWN);
        assertThat(odd.rawClass()).isEqualTo("MigrationExpected");
        assertThat(QmpErrorClass.fromWire("UNKNOWN")).isEqualTo(QmpErrorClass.UNKNOWN);
        assertThat(QmpErrorClass.fromWire(null)).isEqualTo(QmpErrorClass.UNKNOWN);
        assertThat(new QmpErrorException("xen-save-devices-state", "GenericError",
                "Unable to open /x: No such file or directory").getMessage())
                .isEqualTo("QEMU refused xen-save-devices-state: GenericError: Unable to open /x: No such file or directory");
    }

    @Test
    void texts() {
        assertThat(Texts.duration(java.time.Duration.ofSeconds(5))).isEqualTo("5 s");
        assertThat(Texts.duration(java.time.Duration.ofMillis(250))).isEqualTo("250 ms");
        assertThat(Texts.duration(java.time.Duration.ofMillis(1500))).isEqualTo("1.5 s");
        assertThat(Texts.bytes(1 << 20)).isEqualTo("1 MiB (1048576 bytes)");
        assertThat(Texts.bytes(300)).isEqualTo("300 bytes");
    }
}
