package org.xenfork.fuzz;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import org.xenfork.fork.OutputFile;
import org.xenfork.wire.FileKind;

/**
 * Where a fuzz run keeps the inputs that crashed or hung the guest: {@code OUT/crashes/} and
 * {@code OUT/hangs/}, folders made with mode 0700, files written whole or not at all with mode 0600
 * ({@link OutputFile}). A crash is named by its address and the first 16 hex digits of the input's
 * SHA-256, {@code crash-0x100010-3f2a…}; a hang {@code hang-<hash>}. A name that exists already (from
 * this run or an earlier one into the same folder) is a duplicate and is not written again.
 *
 * <pre>{@code
 * Findings findings = Findings.in(Path.of("fuzz-out"));
 * Optional<Path> saved = findings.saveCrash(0x100010, input);   // empty: seen before
 * }</pre>
 */
public final class Findings {
    private final Path crashes;
    private final Path hangs;
    private final Set<String> seen = new HashSet<>();

    private Findings(Path crashes, Path hangs) {
        this.crashes = crashes;
        this.hangs = hangs;
    }

    /**
     * The folders under {@code out}, made (0700) where missing; {@code out} itself may exist already, as
     * a folder (a symbolic link or anything else there is refused: the files are guest data).
     *
     * @throws IOException naming the path that could not be made or is not a folder
     */
    public static Findings in(Path out) throws IOException {
        Path crashes = out.resolve("crashes");
        Path hangs = out.resolve("hangs");
        for (Path p : new Path[] {out, crashes, hangs}) {
            folder(p);
        }
        return new Findings(crashes, hangs);
    }

    private static void folder(Path p) throws IOException {
        Optional<FileKind> kind = FileKind.of(p, LinkOption.NOFOLLOW_LINKS);
        if (kind.isEmpty()) {
            try {
                Files.createDirectory(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException raced) {
                folder(p);
            }
            return;
        }
        if (kind.get() != FileKind.DIRECTORY) {
            throw new IOException(p + " is " + kind.get() + ", not a folder: give --out a folder or a path where one can"
                    + " be made");
        }
    }

    public Path crashes() {
        return crashes;
    }

    public Path hangs() {
        return hangs;
    }

    /** The file name of a crash at {@code address} with this input: {@code crash-0x100010-<16 hex of SHA-256>}. */
    public static String crashName(long address, byte[] input) {
        return "crash-0x" + Long.toHexString(address) + "-" + hash(input);
    }

    /** The file name of a hang with this input: {@code hang-<16 hex of SHA-256>}. */
    public static String hangName(byte[] input) {
        return "hang-" + hash(input);
    }

    /** Saves a crashing input; empty if the same crash with the same input was saved before. */
    public Optional<Path> saveCrash(long address, byte[] input) throws IOException {
        return save(crashes.resolve(crashName(address, input)), input);
    }

    /** Saves a hanging input; empty if it was saved before. */
    public Optional<Path> saveHang(byte[] input) throws IOException {
        return save(hangs.resolve(hangName(input)), input);
    }

    private Optional<Path> save(Path file, byte[] input) throws IOException {
        if (!seen.add(file.getFileName().toString())
                || FileKind.of(file, LinkOption.NOFOLLOW_LINKS).isPresent()) {
            return Optional.empty();
        }
        OutputFile.at(file).write(input);
        return Optional.of(file);
    }

    private static String hash(byte[] input) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(input);
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
    }
}
