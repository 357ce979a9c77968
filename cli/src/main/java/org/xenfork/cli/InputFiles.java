package org.xenfork.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;

/**
 * The one way the command line reads a file a user names as input: bounded, and only a
 * regular file. (Files it writes go through {@link org.xenfork.fork.OutputFile}.)
 */
final class InputFiles {

    private InputFiles() {
    }

    /**
     * The file's bytes; exit 2 for a missing, unreadable or implausibly large file, and for anything
     * but a regular file (a symbolic link is followed). The type is checked before the file is opened,
     * since opening a FIFO waits for a writer; and the read stops one byte past the size checked, so a
     * file that grows after the check (or a device put in its place) cannot make it read more.
     *
     * @param maxBytes the most the file may hold
     * @param what     what the file should be, for the messages: "an HVM context file, as hvm-context get writes it"
     */
    static byte[] read(Path file, int maxBytes, String what) {
        try {
            BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
            if (attrs.isDirectory()) {
                throw new UsageException("cannot read " + file + ": it is a folder; give " + what);
            }
            if (!attrs.isRegularFile()) {
                throw new UsageException("cannot read " + file + ": not a regular file (a device, FIFO or socket); give " + what);
            }
            if (attrs.size() > maxBytes) {
                throw new UsageException(file + " is " + attrs.size() + " bytes; " + what + " holds at most " + maxBytes);
            }
            // At most the size checked above, read into one array of that size; a byte more means it grew.
            byte[] bytes = new byte[(int) attrs.size()];
            try (InputStream in = Files.newInputStream(file)) {
                int n = in.readNBytes(bytes, 0, bytes.length);
                if (n == bytes.length && in.read() >= 0) {
                    throw new UsageException("cannot read " + file + ": it grew while it was read (from " + bytes.length
                            + " bytes); give a file nothing is writing");
                }
                return n == bytes.length ? bytes : Arrays.copyOf(bytes, n);
            }
        } catch (NoSuchFileException e) {
            throw new UsageException("no such file: " + file);
        } catch (AccessDeniedException e) {
            throw new UsageException("cannot read " + file + ": permission denied");
        } catch (IOException e) {
            throw new UsageException("cannot read " + file + ": " + e.getMessage());
        }
    }
}
