package org.xenfork.cli;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
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

    /** The file's bytes; exit 2 for a missing, unreadable or implausibly large file. */
    static byte[] read(Path file) {
        try {
            long size = Files.size(file);
            if (size > MAX_BYTES) {
                throw new UsageException(file + " is " + size + " bytes: an HVM context is at most " + MAX_BYTES
                        + " bytes (the largest sethvmcontext buffer)");
            }
            return Files.readAllBytes(file);
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
