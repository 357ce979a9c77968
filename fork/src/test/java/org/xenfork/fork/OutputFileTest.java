package org.xenfork.fork;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.SpecialFiles;
import org.xenfork.wire.FileKind;

/**
 * Output files: whole or not at all, mode 0600, nothing left beside them, and never over anything
 * but a regular file (issue 16 item 1: a character device, a FIFO and a symbolic link to
 * /proc/self/fd/1 all became regular 0600 files).
 */
class OutputFileTest {
    private static final byte[] BYTES = "a guest's registers".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    private List<String> names() throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void writesWholeWithMode0600AndLeavesNothingBeside() throws IOException {
        Path target = dir.resolve("ctx.bin");
        OutputFile.at(target).write(BYTES);
        assertThat(Files.readAllBytes(target)).isEqualTo(BYTES);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target))).isEqualTo("rw-------");
        assertThat(names()).containsExactly("ctx.bin");
    }

    @Test
    void replacesARegularFileAndOnlyThat() throws IOException {
        Path target = Files.writeString(dir.resolve("ctx.bin"), "older");
        OutputFile.at(target).write(BYTES);
        assertThat(Files.readAllBytes(target)).isEqualTo(BYTES);
        assertThat(names()).containsExactly("ctx.bin");
    }

    @Test
    void refusesACharacterDeviceAndLeavesIt() throws Exception {
        Path dev = SpecialFiles.nullDevice(dir.resolve("x"));
        assertThatThrownBy(() -> OutputFile.at(dev)).isInstanceOf(OutputPathException.class)
                .hasMessage("cannot write " + dev + ": it is a character device, not a regular file: the file is renamed "
                        + "into place, which would replace it; xenfork replaces only regular files (remove it, or give "
                        + "another name)");
        assertThat(FileKind.of(dev, LinkOption.NOFOLLOW_LINKS)).contains(FileKind.CHARACTER_DEVICE);
        assertThat(names()).containsExactly("x");
    }

    @Test
    void refusesAFifoAndLeavesIt() throws Exception {
        Path fifo = SpecialFiles.fifo(dir.resolve("f"));
        assertThatThrownBy(() -> OutputFile.at(fifo)).isInstanceOf(OutputPathException.class)
                .hasMessageStartingWith("cannot write " + fifo + ": it is a FIFO, not a regular file");
        assertThat(FileKind.of(fifo, LinkOption.NOFOLLOW_LINKS)).contains(FileKind.FIFO);
        assertThat(names()).containsExactly("f");
    }

    @Test
    void refusesASymbolicLinkToStdoutOrDevNullAndLeavesIt() throws Exception {
        for (String to : new String[] {"/proc/self/fd/1", "/dev/null", "regular-file-it-points-to"}) {
            Path link = Files.createSymbolicLink(dir.resolve("l"), Path.of(to));
            assertThatThrownBy(() -> OutputFile.at(link)).isInstanceOf(OutputPathException.class)
                    .hasMessage("cannot write " + link + ": it is a symbolic link (to " + to + "): the file is renamed into "
                            + "place, which would replace the link itself, not write where it points; give that path, or "
                            + "remove the link");
            assertThat(Files.readSymbolicLink(link)).isEqualTo(Path.of(to));
            assertThat(names()).containsExactly("l");
            Files.delete(link);
        }
        assertThat(FileKind.of(Path.of("/dev/null"), LinkOption.NOFOLLOW_LINKS)).contains(FileKind.CHARACTER_DEVICE);
    }

    @Test
    void refusesAFolderAndASocket() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        assertThatThrownBy(() -> OutputFile.at(sub)).isInstanceOf(OutputPathException.class)
                .hasMessage("cannot write " + sub + ": it is a folder; give a file name");
        assertThatThrownBy(() -> OutputFile.at(Path.of("/"))).hasMessage("cannot write /: it is a folder; give a file name");
        Path socket = dir.resolve("s");
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(socket));
            assertThatThrownBy(() -> OutputFile.at(socket)).isInstanceOf(OutputPathException.class)
                    .hasMessageStartingWith("cannot write " + socket + ": it is a Unix socket, not a regular file");
        }
        assertThat(names()).containsExactly("s", "sub");
    }

    @Test
    void refusesAMissingFolderOrAFileAsFolder() throws IOException {
        assertThatThrownBy(() -> OutputFile.at(dir.resolve("none/x"))).isInstanceOf(OutputPathException.class)
                .hasMessage("cannot write " + dir.resolve("none/x") + ": no folder " + dir.resolve("none"));
        Path file = Files.writeString(dir.resolve("plain"), "x");
        assertThatThrownBy(() -> OutputFile.at(file.resolve("x"))).isInstanceOf(OutputPathException.class)
                .hasMessage("cannot write " + file.resolve("x") + ": " + file + " is not a folder (it is a regular file)");
    }

    @Test
    void aTargetThatTurnsIntoAFifoWhileStagedIsRefusedAtTheRename() throws Exception {
        Path target = dir.resolve("t");
        OutputFile out = OutputFile.at(target);
        try (OutputFile.Staged staged = out.stage()) {
            Files.write(staged.file(), BYTES);
            SpecialFiles.fifo(target);
            assertThatThrownBy(staged::commit).isInstanceOf(OutputPathException.class)
                    .hasMessageStartingWith("cannot write " + target + ": it is a FIFO");
            assertThat(staged.committed()).isFalse();
        }
        assertThat(FileKind.of(target, LinkOption.NOFOLLOW_LINKS)).contains(FileKind.FIFO);
        assertThat(names()).containsExactly("t");
    }

    @Test
    void stagedIsAPrivateFolderBesideTheTargetAndCloseRemovesIt() throws IOException {
        Path target = Files.writeString(dir.resolve("d.state"), "older");
        Path staged;
        try (OutputFile.Staged s = OutputFile.at(target).stage()) {
            staged = s.file();
            assertThat(staged.getFileName().toString()).isEqualTo("d.state");
            assertThat(staged.getParent().getParent()).isEqualTo(dir);
            assertThat(staged.getParent().getFileName().toString()).startsWith(".d.state.").endsWith(".part");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(staged.getParent()))).isEqualTo("rwx------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(staged))).isEqualTo("rw-------");
            Files.write(staged, BYTES);
        }
        assertThat(names()).as("closed without commit: the old file as it was, nothing beside").containsExactly("d.state");
        assertThat(Files.readString(target)).isEqualTo("older");
        assertThatThrownBy(() -> Files.write(staged, BYTES)).as("a late writer finds no folder")
                .isInstanceOf(java.nio.file.NoSuchFileException.class);
        assertThat(names()).containsExactly("d.state");
    }

    @Test
    void whateverAWriterLeftInThePrivateFolderIsRemovedToo() throws IOException {
        try (OutputFile.Staged s = OutputFile.at(dir.resolve("x")).stage()) {
            Files.writeString(s.file().resolveSibling("x.tmp"), "a writer's own temporary");
        }
        assertThat(names()).isEmpty();
    }

    @Test
    void aLongNameKeepsThePrivateFolderWithinNameMax() throws IOException {
        String name = "x".repeat(250); // NAME_MAX is 255: ".NAME.RANDOM.part" would not fit
        Path target = dir.resolve(name);
        OutputFile.at(target).write(BYTES);
        assertThat(Files.readAllBytes(target)).isEqualTo(BYTES);
        assertThat(names()).containsExactly(name);
    }
}
