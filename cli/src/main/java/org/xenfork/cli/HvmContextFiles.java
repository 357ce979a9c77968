package org.xenfork.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import org.xenfork.privcmd.HypercallBuffers;

/**
 * HVM context files: read with a bound (no file is read whole that no hypercall
 * could carry), written whole or not at all (a temporary file beside the
 * target, mode 0600, synced, then renamed over it), since a context holds a
 * guest's registers.
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

    /** Fails with exit 2, before anything else happens, unless {@code file}'s folder exists and can be written. */
    static void requireWritable(Path file) {
        Path dir = folder(file);
        if (!Files.isDirectory(dir)) {
            throw new UsageException("cannot write " + file + ": no folder " + dir);
        }
        if (!Files.isWritable(dir)) {
            throw new UsageException("cannot write " + file + ": folder " + dir + " is not writable");
        }
        if (Files.isDirectory(file)) {
            throw new UsageException("cannot write " + file + ": it is a folder");
        }
    }

    /** Writes {@code bytes} to {@code file} atomically, mode 0600; on failure the target is as it was and no temporary file stays. */
    static void write(Path file, byte[] bytes) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile(folder(file), "." + file.getFileName() + ".", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
        } catch (IOException e) {
            throw new UsageException("cannot write " + file + ": " + e.getMessage());
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that is what the user hears about
                }
            }
        }
    }

    private static Path folder(Path file) {
        Path parent = file.toAbsolutePath().getParent();
        return parent == null ? Path.of("/") : parent;
    }
}
