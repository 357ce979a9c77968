package org.xenfork.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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
}
