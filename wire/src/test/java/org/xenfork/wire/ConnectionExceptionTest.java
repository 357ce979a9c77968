package org.xenfork.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ConnectionExceptionTest {

    @Test
    void eachCarriesPeerOperationMessageAndCause() {
        IOException why = new IOException("ECONNRESET");
        ConnectionException closed = new ConnectionClosedException("QEMU on /q", "cont", "QEMU closed it", why);
        assertThat(closed).isInstanceOf(IOException.class).hasMessage("QEMU closed it").hasCause(why);
        assertThat(closed.peer()).isEqualTo("QEMU on /q");
        assertThat(closed.operation()).isEqualTo("cont");

        ConnectionTimeoutException late = new ConnectionTimeoutException("xenstored on unix socket /s", "XS_READ /a",
                Duration.ofMillis(500), "XS_READ /a: no reply");
        assertThat(late.timeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(late.operation()).isEqualTo("XS_READ /a");
        assertThat(late.getCause()).isNull();

        ProtocolViolationException bad = new ProtocolViolationException("xenstored", null, "unknown message type 99");
        assertThat(bad.operation()).as("a failure of the whole connection has no operation").isNull();
        assertThat(bad.peer()).isEqualTo("xenstored");
    }

    @Test
    void peerAndMessageAreRequiredAndATimeoutHasAnOperation() {
        assertThatThrownBy(() -> new ConnectionClosedException(null, "op", "m")).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new ProtocolViolationException("p", "op", null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new ConnectionTimeoutException("p", null, Duration.ofSeconds(1), "m"))
                .isInstanceOf(NullPointerException.class);
    }
}
