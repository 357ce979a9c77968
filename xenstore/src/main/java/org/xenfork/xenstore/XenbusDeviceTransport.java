package org.xenfork.xenstore;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The {@code /dev/xen/xenbus} character device: the Linux kernel's xenbus driver
 * relays whole messages to xenstored over the shared ring and queues replies and
 * watch events for {@code read(2)}.
 *
 * <p>Two {@link FileChannel}s over the one file descriptor, because a JDK
 * FileChannel serialises {@code read} and {@code write} on one internal lock: with
 * a single channel, a reader blocked waiting for the next watch event would stop
 * every request from being written. The device is not seekable, so positional
 * I/O (which skips that lock) is not an option. Closing the reading channel
 * signals the blocked reader thread, which then fails with
 * {@link java.nio.channels.AsynchronousCloseException}.
 */
final class XenbusDeviceTransport implements XsTransport {

    private final Path path;
    private final FileChannel reads;
    private final FileChannel writes;

    /** Separate channels for reading and writing; tests pass a FIFO pair standing in for the device. */
    XenbusDeviceTransport(Path path, FileChannel reads, FileChannel writes) {
        this.path = path;
        this.reads = reads;
        this.writes = writes;
    }

    static XenbusDeviceTransport open(Path device) throws IOException {
        // RandomAccessFile "rw" creates a missing file: as root that would leave a regular
        // file at /dev/xen/xenbus on a machine without Xen. Only open what is already there
        // and is not a plain file (the device, or a FIFO in tests).
        if (!Files.exists(device)) {
            throw new NoSuchFileException(device.toString(), null, "cannot open " + device + ": no such device");
        }
        if (Files.isRegularFile(device) || Files.isDirectory(device)) {
            throw new IOException("cannot open " + device + ": not a character device");
        }
        RandomAccessFile file;
        try {
            file = new RandomAccessFile(device.toFile(), "rw");
        } catch (IOException e) {
            throw new IOException("cannot open " + device + ": " + e.getMessage(), e);
        }
        // The FileOutputStream shares the descriptor; closing either channel closes it for both.
        FileChannel writes = new FileOutputStream(file.getFD()).getChannel();
        return new XenbusDeviceTransport(device, file.getChannel(), writes);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return reads.read(dst);
    }

    /** The driver accepts a message in pieces, but one write per frame is what every user of it does. */
    @Override
    public void write(ByteBuffer frame) throws IOException {
        while (frame.hasRemaining()) {
            writes.write(frame);
        }
    }

    @Override
    public boolean oneRequestAtATime() {
        return true;
    }

    @Override
    public String describe() {
        return "xenbus device " + path;
    }

    @Override
    public boolean isOpen() {
        return reads.isOpen();
    }

    @Override
    public void close() throws IOException {
        try {
            reads.close();
        } finally {
            writes.close();
        }
    }
}
