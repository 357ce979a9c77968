package org.xenfork.wire;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a path names, by the file-type bits of its mode ({@code S_IFMT}, stat(2)): the one way xenfork
 * tells a socket, a device, a FIFO or a link from a regular file, for refusing the wrong kind and
 * naming it in the message ({@link #toString()}: "a character device"). A QMP socket must be a
 * {@link #SOCKET}; a file xenfork replaces must be a {@link #REGULAR_FILE}.
 */
public enum FileKind {
    REGULAR_FILE(0100000, "a regular file"),
    DIRECTORY(0040000, "a folder"),
    SYMBOLIC_LINK(0120000, "a symbolic link"),
    CHARACTER_DEVICE(0020000, "a character device"),
    BLOCK_DEVICE(0060000, "a block device"),
    FIFO(0010000, "a FIFO"),
    SOCKET(0140000, "a Unix socket");

    private static final int S_IFMT = 0170000;

    private final int bits;
    private final String words;

    FileKind(int bits, String words) {
        this.bits = bits;
        this.words = words;
    }

    /**
     * The kind of file at {@code path}, or empty when nothing is there.
     *
     * @param options {@link LinkOption#NOFOLLOW_LINKS} to see a final symbolic link itself, not what it
     *                points to
     * @throws IOException if it cannot be looked at (a folder on the way that cannot be searched, a name
     *                     too long, a loop of links)
     */
    public static Optional<FileKind> of(Path path, LinkOption... options) throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", options);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        for (FileKind k : values()) {
            if ((mode & S_IFMT) == k.bits) {
                return Optional.of(k);
            }
        }
        // Linux has no other types; a file system that invents one is still not what any caller wants.
        throw new IOException(path + " is of an unknown file type (mode 0" + Integer.toOctalString(mode) + ")");
    }

    /** The kind in words, with its article: "a FIFO". */
    @Override
    public String toString() {
        return words;
    }
}
