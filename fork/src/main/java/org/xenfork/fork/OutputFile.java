package org.xenfork.fork;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.xenfork.wire.FileKind;

/**
 * A file xenfork writes for the user (an HVM context, a QEMU device state): it appears whole or
 * not at all, with mode 0600 (it holds guest data), and only where a regular file or nothing was.
 * The one way xenfork writes an output file.
 *
 * <p>{@link #at} checks the path before any work is done: the folder exists and can be written,
 * and what is at the path, not following a final symbolic link, is a regular file or nothing.
 * Anything else is refused ({@link OutputPathException}, exit 2), because the file is renamed into
 * place and a rename replaces the directory entry itself: over a device, a FIFO or a socket it
 * would replace the node (as root, {@code -o /dev/null} would replace the system's
 * {@code /dev/null} with a regular file); over a symbolic link, the link, not the file it points to.
 *
 * <p>The bytes go to a private folder made beside the target ({@code .NAME.RANDOM.part}, mode 0700,
 * so no one else can put anything there), into a file named as the target, mode 0600 ({@link #stage}).
 * When complete it is synced and renamed over the target (rename(2), atomic in one file system),
 * the target checked once more just before, and the folder removed. On a failure, a timeout or
 * SIGINT/SIGTERM (a shutdown hook, while a file is staged) the folder is removed with whatever is
 * in it: the target stays as it was. A process that was handed the staged path (QEMU, for
 * {@code xen-save-devices-state}) and writes after that finds no folder (ENOENT) and cannot leave
 * a file behind.
 */
public final class OutputFile {
    private static final System.Logger LOG = System.getLogger(OutputFile.class.getName());
    private static final FileAttribute<Set<PosixFilePermission>> FOLDER_0700 =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final FileAttribute<Set<PosixFilePermission>> FILE_0600 =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    /** Code points of the target's name in the private folder's name: it stays within NAME_MAX (255 bytes). */
    private static final int NAME_IN_FOLDER = 40;
    /** A private folder's name is random; a name taken (by chance, or by someone guessing) is drawn again. */
    private static final int NAME_ATTEMPTS = 100;
    /** Rounds of emptying the private folder: a writer may create its file again while it is being removed. */
    private static final int REMOVE_ROUNDS = 5;

    private final Path target;
    private final Path folder;
    private final String name;

    private OutputFile(Path target, Path folder, String name) {
        this.target = target;
        this.folder = folder;
        this.name = name;
    }

    /**
     * The output file {@code target}, checked: its folder exists and can be written, and nothing but
     * a regular file is there.
     *
     * @throws OutputPathException naming the path and what is wrong, before anything is written
     */
    public static OutputFile at(Path target) {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        if (folder == null || target.getFileName() == null) {
            throw refused(target, "it is a folder; give a file name");
        }
        FileKind folderKind;
        try {
            folderKind = FileKind.of(folder).orElseThrow(() -> refused(target, "no folder " + folder));
        } catch (IOException e) {
            throw refused(target, "cannot look at its folder " + folder + ": " + reason(e));
        }
        if (folderKind != FileKind.DIRECTORY) {
            throw refused(target, folder + " is not a folder (it is " + folderKind + ")");
        }
        if (!Files.isWritable(folder)) { // access(2): also false on a read-only mount, where root may not write either
            throw refused(target, "folder " + folder + " is not writable");
        }
        requireReplaceable(target);
        return new OutputFile(target, folder, target.getFileName().toString());
    }

    /** The path as given. */
    public Path target() {
        return target;
    }

    /**
     * Writes {@code bytes} as the file: staged, synced, renamed into place.
     *
     * @throws OutputPathException if the path has become unusable since {@link #at} (nothing written)
     * @throws IOException if writing failed; the target is as it was and nothing is left
     */
    public void write(byte[] bytes) throws IOException {
        try (Staged staged = stage()) {
            try (FileChannel ch = FileChannel.open(staged.file(), StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
            staged.commit();
        }
    }

    /**
     * Makes the private folder and the empty staged file in it, for a writer to fill
     * ({@link Staged#file()}); {@link Staged#commit()} puts it in place, {@link Staged#close()}
     * removes whatever is left. Until one of them, a shutdown hook removes it on SIGINT or SIGTERM.
     *
     * @throws OutputPathException if the folder cannot be written (permission, a read-only mount) or is gone
     * @throws InterruptedIOException if the JVM is shutting down
     */
    public Staged stage() throws IOException {
        Staged staged = new Staged();
        staged.make();
        return staged;
    }

    /** The staged file being written; {@link #close()} it in all cases (try-with-resources). */
    public final class Staged implements AutoCloseable {
        private final Object lock = new Object();
        private final Thread hook = new Thread(this::removeAtShutdown, "xenfork-output-file");
        // guarded by lock
        private boolean open = true;
        private boolean committed;
        private Path dir;
        private Path file;

        private Staged() {
        }

        private void make() throws IOException {
            try {
                Runtime.getRuntime().addShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                throw new InterruptedIOException("xenfork is stopping: " + target + " was not written");
            }
            try {
                synchronized (lock) {
                    if (!open) {
                        throw new InterruptedIOException("xenfork is stopping: " + target + " was not written");
                    }
                    dir = makePrivateFolder();
                    file = Files.createFile(dir.resolve(name), FILE_0600);
                }
            } catch (IOException | RuntimeException e) {
                try {
                    close();
                } catch (IOException left) {
                    e.addSuppressed(left);
                }
                throw e;
            }
        }

        /** Where the writer writes: a file of mode 0600 named as the target, in the private folder. */
        public Path file() {
            synchronized (lock) {
                return file;
            }
        }

        /**
         * The staged file as the writer left it, checked to be a regular file (a final link not
         * followed), so that reading it neither blocks on a FIFO nor reads another file.
         */
        public Path writtenFile() throws IOException {
            Path f = file();
            FileKind kind = FileKind.of(f, LinkOption.NOFOLLOW_LINKS)
                    .orElseThrow(() -> new NoSuchFileException(f.toString(), null, "the file to be written is gone"));
            if (kind != FileKind.REGULAR_FILE) {
                throw new IOException(f + " is " + kind + ", not the regular file it was made as");
            }
            return f;
        }

        /**
         * Syncs the staged file and renames it over the target, after checking once more that
         * only a regular file or nothing is there; removes the private folder.
         *
         * @return the file's size in bytes
         * @throws OutputPathException if something other than a regular file is at the target now
         * @throws InterruptedIOException if a shutdown removed the staged file first
         */
        public long commit() throws IOException {
            synchronized (lock) {
                if (!open) {
                    throw new InterruptedIOException("xenfork is stopping: " + target + " was not written");
                }
                Path f = writtenFile();
                long size;
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                    size = ch.size();
                    ch.force(true);
                }
                requireReplaceable(target);
                try {
                    Files.move(f, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new IOException("cannot rename " + f + " to " + target + " atomically", e);
                }
                open = false;
                committed = true;
                try {
                    Files.delete(dir);
                } catch (IOException e) {
                    // The file is in place; an empty folder left is worth a word, not a failure.
                    LOG.log(System.Logger.Level.WARNING, target + " is written, but its empty temporary folder " + dir
                            + " could not be removed (" + reason(e) + "); remove it");
                }
                return size;
            }
        }

        /**
         * Removes the staged file and its folder unless committed, and the shutdown hook.
         *
         * @throws NotRemovedException if something could not be removed; it names what is left
         */
        @Override
        public void close() throws IOException {
            try {
                synchronized (lock) {
                    if (open) {
                        open = false;
                        remove();
                    }
                }
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook runs now or ran; it finds nothing left to do
                }
            }
        }

        /** Whether {@link #commit()} put the file in place. */
        public boolean committed() {
            synchronized (lock) {
                return committed;
            }
        }

        private void removeAtShutdown() {
            synchronized (lock) {
                if (!open) {
                    return;
                }
                open = false;
                try {
                    remove();
                    LOG.log(System.Logger.Level.INFO, "stopped before " + target + " was written: removed " + dir);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, e.getMessage());
                }
            }
        }

        /** Empties and removes the private folder (the writer's file, and anything a writer made there since). */
        private void remove() throws NotRemovedException {
            if (dir == null) {
                return;
            }
            IOException last = null;
            for (int round = 0; round < REMOVE_ROUNDS; round++) {
                try {
                    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                        for (Path e : entries) {
                            Files.deleteIfExists(e);
                        }
                    }
                    Files.deleteIfExists(dir);
                    return;
                } catch (DirectoryNotEmptyException e) {
                    last = e; // a file made again while we removed: another round
                } catch (NoSuchFileException e) {
                    return;
                } catch (IOException e) {
                    last = e;
                    break;
                }
            }
            throw new NotRemovedException("could not remove the unfinished " + target + " at " + dir + " ("
                    + reason(last) + "); remove that folder", last);
        }
    }

    /** The staged file or its private folder could not be removed; the message names the folder left. */
    public static final class NotRemovedException extends IOException {
        private static final long serialVersionUID = 1L;

        NotRemovedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private Path makePrivateFolder() throws IOException {
        String stem = name.codePoints().limit(NAME_IN_FOLDER)
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        for (int attempt = 1; ; attempt++) {
            Path d = folder.resolve("." + stem + "." + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()) + ".part");
            try {
                return Files.createDirectory(d, FOLDER_0700);
            } catch (FileAlreadyExistsException e) {
                if (attempt == NAME_ATTEMPTS) {
                    throw e;
                }
            } catch (NoSuchFileException e) {
                throw refused(target, "no folder " + folder);
            } catch (AccessDeniedException e) {
                throw refused(target, "folder " + folder + " is not writable");
            } catch (FileSystemException e) {
                if (!Files.isWritable(folder)) { // EROFS: a read-only mount
                    throw refused(target, "folder " + folder + " is not writable (" + reason(e) + ")");
                }
                throw e;
            }
        }
    }

    /** Refuses anything at {@code target} but a regular file or nothing; a final symbolic link is not followed. */
    private static void requireReplaceable(Path target) {
        FileKind kind;
        try {
            kind = FileKind.of(target, LinkOption.NOFOLLOW_LINKS).orElse(null);
        } catch (IOException e) {
            throw refused(target, reason(e));
        }
        if (kind == null || kind == FileKind.REGULAR_FILE) {
            return;
        }
        switch (kind) {
            case DIRECTORY:
                throw refused(target, "it is a folder; give a file name");
            case SYMBOLIC_LINK:
                throw refused(target, "it is a symbolic link" + linkTarget(target) + ": the file is renamed into place, "
                        + "which would replace the link itself, not write where it points; give that path, or remove the link");
            default:
                throw refused(target, "it is " + kind + ", not a regular file: the file is renamed into place, which would "
                        + "replace it; xenfork replaces only regular files (remove it, or give another name)");
        }
    }

    private static String linkTarget(Path link) {
        try {
            return " (to " + Files.readSymbolicLink(link) + ")";
        } catch (IOException | UnsupportedOperationException e) {
            return "";
        }
    }

    private static OutputPathException refused(Path target, String why) {
        return new OutputPathException("cannot write " + target + ": " + why);
    }

    /** What went wrong, without repeating the path the caller's message already names. */
    private static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return String.valueOf(e.getMessage());
    }
}
