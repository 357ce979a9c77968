package org.xenfork.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.SpecialFiles;

/** Each kind of file told apart, a final link seen or followed as asked, and the words for messages. */
class FileKindTest {
    @TempDir
    Path dir;

    @Test
    void tellsEachKindApart() throws Exception {
        Path file = Files.writeString(dir.resolve("f"), "x");
        Path fifo = SpecialFiles.fifo(dir.resolve("p"));
        Path socket = dir.resolve("s");
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(socket));
            assertThat(FileKind.of(file)).contains(FileKind.REGULAR_FILE);
            assertThat(FileKind.of(dir)).contains(FileKind.DIRECTORY);
            assertThat(FileKind.of(fifo)).contains(FileKind.FIFO);
            assertThat(FileKind.of(socket)).contains(FileKind.SOCKET);
            assertThat(FileKind.of(Path.of("/dev/null"))).contains(FileKind.CHARACTER_DEVICE);
            assertThat(FileKind.of(dir.resolve("none"))).isEmpty();
        }
    }

    @Test
    void aFinalLinkIsSeenOnlyWhenAsked() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("l"), Path.of("/dev/null"));
        assertThat(FileKind.of(link, LinkOption.NOFOLLOW_LINKS)).contains(FileKind.SYMBOLIC_LINK);
        assertThat(FileKind.of(link)).contains(FileKind.CHARACTER_DEVICE);
        Path dangling = Files.createSymbolicLink(dir.resolve("d"), dir.resolve("none"));
        assertThat(FileKind.of(dangling, LinkOption.NOFOLLOW_LINKS)).contains(FileKind.SYMBOLIC_LINK);
        assertThat(FileKind.of(dangling)).isEmpty();
        Files.delete(link); // JUnit would warn about a link out of its folder
    }

    @Test
    void wordsForMessages() {
        assertThat(FileKind.CHARACTER_DEVICE).hasToString("a character device");
        assertThat(FileKind.DIRECTORY).hasToString("a folder");
        assertThat(FileKind.SOCKET).hasToString("a Unix socket");
    }
}
