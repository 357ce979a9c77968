package org.xenfork.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import org.xenfork.privcmd.HypercallBuffers;

/**
 * HVM context files: read with a bound (no file is read whole that no hypercall
 * could carry). They are written with {@link org.xenfork.fork.OutputFile}: whole or
 * not at all, mode 0600, since a context holds a guest's registers.
 */
final class HvmContextFiles {
    /** The most a context can be: what {@code Hypervisor.setHvmContext} can send (privcmd's buffer bound). */
    static final int MAX_BYTES = HypercallBuffers.MAX_BYTES;

    private HvmContextFiles() {
    }

    /**
     * The file's bytes; exit 2 for a missing, unreadable or implausibly large file, and for anything
     * but a regular file (a symbolic link is followed). The type is checked before the file is opened,
     * since opening a FIFO waits for a writer; and the read stops one byte past the size checked, so a
     * file that grows after the check (or a device put in its place) cannot make it read more. Every HVM
     * stream the command line takes from a file comes through here.
     */
    static byte[] read(Path file) {
        try {
            BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
            if (attrs.isDirectory()) {
                throw new UsageException("cannot read " + file + ": it is a folder; give an HVM context file");
            }
            if (!attrs.isRegularFile()) {
                throw new UsageException("cannot read " + file + ": not a regular file (a device, FIFO or socket); "
                        + "give an HVM context file, as hvm-context get writes it");
            }
            if (attrs.size() > MAX_BYTES) {
                throw new UsageException(file + " is " + attrs.size() + " bytes: an HVM context is at most " + MAX_BYTES
                        + " bytes (the largest sethvmcontext buffer)");
            }
            // At most the size checked above, read into one array of that size; a byte more means it grew.
            byte[] bytes = new byte[(int) attrs.size()];
            try (InputStream in = Files.newInputStream(file)) {
                int n = in.readNBytes(bytes, 0, bytes.length);
                if (n == bytes.length && in.read() >= 0) {
                    throw new UsageException("cannot read " + file + ": it grew while it was read (from " + bytes.length
                            + " bytes); read a context file nothing is writing");
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
