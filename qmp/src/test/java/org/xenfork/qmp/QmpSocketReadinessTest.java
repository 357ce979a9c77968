package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.TestQemu;

/**
 * TestQemu waits for QEMU's QMP socket to listen, not merely to exist: the file appears at bind(),
 * and outlives the process, while a connect() succeeds only between listen() and close().
 */
class QmpSocketReadinessTest {
    @TempDir
    Path dir;

    @Test
    void aSocketFileCountsAsReadyOnlyWhileSomeoneListensOnIt() throws Exception {
        Path sock = dir.resolve("q.qmp");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            assertThat(TestQemu.isListening(sock)).isTrue();
        }
        assertThat(sock).exists(); // the file a dead QEMU leaves behind
        assertThat(TestQemu.isListening(sock)).isFalse();
        Files.delete(sock);
        assertThat(TestQemu.isListening(sock)).isFalse();
    }
}
