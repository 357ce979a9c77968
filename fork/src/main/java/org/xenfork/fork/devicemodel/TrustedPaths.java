package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether a file on the host is one only root, or the user running xenfork, can
 * change: what xenfork asks of a program a config names for it to run as root,
 * and of the folder QEMU is to write a serial file into. A path is trusted when
 * it and every folder above it, symbolic links resolved, belong to root or to
 * this process's user and are not writable by group or others. A folder writable
 * by all but with the sticky bit ({@code /tmp}) counts as trusted for what lies
 * below it: only an entry's owner can rename or remove that entry there.
 */
final class TrustedPaths {
    private static final int GROUP_OR_OTHER_WRITE = 0022;
    private static final int STICKY = 01000;

    private TrustedPaths() {
    }

    /**
     * Why {@code path} is not trusted, or empty if it is. {@code path} must exist;
     * it is resolved to its real path first.
     */
    static Optional<String> problem(Path path) throws IOException {
        Path real = path.toRealPath();
        int self = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid"); // the folder of this process: its uid
        for (Path p = real; p != null; p = p.getParent()) {
            int owner = uid(p);
            if (owner != 0 && owner != self) {
                return Optional.of(p + " belongs to uid " + owner + ", neither root nor you");
            }
            int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            boolean stickyFolder = !p.equals(real) && (mode & STICKY) != 0;
            if ((mode & GROUP_OR_OTHER_WRITE) != 0 && !stickyFolder) {
                return Optional.of(p + " is writable by " + ((mode & 0002) != 0 ? "everyone" : "its group"));
            }
        }
        return Optional.empty();
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }
}
