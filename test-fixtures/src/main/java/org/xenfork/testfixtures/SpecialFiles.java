package org.xenfork.testfixtures;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Files that are not regular files, made with the system's own tools (Java makes neither), for
 * tests of what xenfork refuses to write over or read from: a FIFO ({@code mkfifo}) and the
 * issue-16 character device ({@code mknod x c 1 3}, what /dev/null is).
 */
public final class SpecialFiles {
    private SpecialFiles() {
    }

    /** A FIFO at {@code path}. */
    public static Path fifo(Path path) throws IOException, InterruptedException {
        run("mkfifo", path.toString());
        return path;
    }

    /**
     * A character device 1:3 (as /dev/null) at {@code path}; the test is skipped, saying why, where
     * the process may not make devices (not root, or no CAP_MKNOD).
     */
    public static Path nullDevice(Path path) throws InterruptedException {
        try {
            run("mknod", path.toString(), "c", "1", "3");
        } catch (IOException e) {
            Assumptions.abort("cannot make a character device (needs root or CAP_MKNOD): " + e.getMessage());
        }
        return path;
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " did not finish in 10 s");
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed (exit " + p.exitValue() + "): " + out.strip());
        }
    }
}
