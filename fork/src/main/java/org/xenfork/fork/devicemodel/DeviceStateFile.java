package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.OutputFile;
import org.xenfork.fork.OutputPathException;
import org.xenfork.qmp.QmpClient;

/**
 * A QEMU device-state file as {@code xen-save-devices-state} writes it: a QEVM
 * stream, version 3 ({@code QEMU_VM_FILE_MAGIC}, {@code QEMU_VM_FILE_VERSION} in
 * QEMU's {@code migration/savevm.h}). Saving is all or nothing ({@link OutputFile}):
 * QEMU writes a file of mode 0600 in a private folder beside the target (device
 * state holds guest data), which is renamed over the target only once QEMU said it
 * is done and the stream starts as it should; after a failure, a timeout or a
 * signal the folder is gone, so a QEMU that writes late cannot leave a file.
 *
 * <p>QEMU opens that file itself, by name and as root, perhaps after xenfork gave up
 * waiting. So the target's folder must be one only root or the caller can change
 * ({@link #target}): in a folder others can write ({@code /tmp}), someone could make a
 * folder of the private folder's name once it is removed, with a link in it, and a late
 * QEMU would write through that link wherever it points.
 */
public final class DeviceStateFile {
    /** "QEVM", big-endian. */
    public static final int MAGIC = 0x5145564d;
    public static final int VERSION = 3;

    private DeviceStateFile() {
    }

    /**
     * Where a device state may be saved: {@link OutputFile#at}'s checks, and a folder only root or
     * the caller can change (see the class comment).
     *
     * @throws OutputPathException naming the path and why, before anything is asked of QEMU
     */
    public static OutputFile target(Path file) {
        OutputFile out = OutputFile.at(file);
        Path folder = out.target().toAbsolutePath().getParent();
        try {
            TrustedPaths.problem(folder).ifPresent(why -> {
                throw new OutputPathException("cannot save to " + file + ": QEMU writes the device state itself, as "
                        + "root, and maybe after xenfork stopped waiting, so the folder must be one only root or you "
                        + "can change, and " + why + "; save into such a folder (e.g. one made with mktemp -d)");
            });
        } catch (IOException e) {
            throw new OutputPathException("cannot save to " + file + ": cannot check its folder " + folder + ": " + e);
        }
        return out;
    }

    /**
     * Asks the QEMU behind {@code qmp} to save its device state to {@code target}. When it
     * fails and the unfinished file cannot be removed either, the exception thrown carries an
     * {@link OutputFile.NotRemovedException} as suppressed, naming what is left.
     *
     * @param target where the file goes, from {@link #target} (called before connecting)
     * @param live QMP's {@code live}: true lets QEMU release its disk images afterwards
     *             (for a migration); a fork's parent keeps its disks, so false
     * @return the file's size in bytes
     */
    public static long save(QmpClient qmp, OutputFile target, boolean live, Duration timeout) throws IOException {
        try (OutputFile.Staged staged = target.stage()) {
            qmp.saveDevicesState(staged.file(), live, timeout);
            Path written = staged.writtenFile();
            String bad = badHeader(written);
            if (bad != null) {
                throw new IOException("QEMU said it saved the device state, but " + written + " " + bad);
            }
            return staged.commit();
        }
    }

    /**
     * Checks that {@code file} is a regular file holding a QEVM v3 stream.
     *
     * @return its size in bytes
     * @throws ForkRequestException naming what is wrong and how to make a good one
     */
    public static long check(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new ForkRequestException("device state " + file + ": not a regular file; make one with "
                    + "xenfork save-devices-state --domid PARENT " + file);
        }
        String bad = badHeader(file);
        if (bad != null) {
            throw new ForkRequestException("device state " + file + ": " + bad
                    + "; make one with xenfork save-devices-state");
        }
        return Files.size(file);
    }

    /** What is wrong with the file's first 8 bytes, or null if they are a QEVM v3 header. */
    private static String badHeader(Path file) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(8);
        }
        ByteBuffer b = ByteBuffer.wrap(head);
        if (head.length < 8 || b.getInt(0) != MAGIC) {
            return "does not start with QEMU's \"QEVM\" magic";
        }
        if (b.getInt(4) != VERSION) {
            return "is QEVM version " + b.getInt(4) + ", not " + VERSION;
        }
        return null;
    }
}
