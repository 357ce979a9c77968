package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.qmp.QmpClient;

/**
 * A QEMU device-state file as {@code xen-save-devices-state} writes it: a QEVM
 * stream, version 3 ({@code QEMU_VM_FILE_MAGIC}, {@code QEMU_VM_FILE_VERSION} in
 * QEMU's {@code migration/savevm.h}). Saving is all or nothing: QEMU writes a
 * temporary file beside the target, made here with mode 0600 (device state holds
 * guest data), which is renamed over the target only once QEMU said it is done and
 * the stream starts as it should.
 */
public final class DeviceStateFile {
    /** "QEVM", big-endian. */
    public static final int MAGIC = 0x5145564d;
    public static final int VERSION = 3;

    private DeviceStateFile() {
    }

    /**
     * Asks the QEMU behind {@code qmp} to save its device state to {@code target}.
     *
     * @param live QMP's {@code live}: true lets QEMU release its disk images afterwards
     *             (for a migration); a fork's parent keeps its disks, so false
     * @return the file's size in bytes
     */
    public static long save(QmpClient qmp, Path target, boolean live, Duration timeout) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ForkRequestException("cannot save to " + target + ": folder " + dir + " does not exist");
        }
        if (Files.isDirectory(target)) {
            throw new ForkRequestException("cannot save to " + target + ": it is a folder; give a file name");
        }
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".part",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        boolean done = false;
        try {
            qmp.saveDevicesState(tmp, live, timeout);
            String bad = badHeader(tmp);
            if (bad != null) {
                throw new IOException("QEMU said it saved the device state, but " + tmp + " " + bad);
            }
            long size = Files.size(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename " + tmp + " to " + target + " atomically", e);
            }
            done = true;
            return size;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
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
