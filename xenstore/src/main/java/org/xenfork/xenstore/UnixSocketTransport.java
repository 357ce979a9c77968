package org.xenfork.xenstore;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * xenstored's Unix socket (dom0 only). A blocking {@link SocketChannel} has
 * separate read and write locks, so the reader thread and writers do not block
 * each other, and closing the channel wakes the reader with
 * {@link java.nio.channels.AsynchronousCloseException}.
 */
final class UnixSocketTransport implements XsTransport {

    private final Path path;
    private final SocketChannel channel;

    private UnixSocketTransport(Path path, SocketChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    static UnixSocketTransport connect(Path path) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(path));
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot connect to xenstored socket " + path + ": " + e.getMessage(), e);
        }
        return new UnixSocketTransport(path, channel);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return channel.read(dst);
    }

    @Override
    public void write(ByteBuffer frame) throws IOException {
        while (frame.hasRemaining()) {
            channel.write(frame);
        }
    }

    @Override
    public boolean oneRequestAtATime() {
        return false;
    }

    @Override
    public String describe() {
        return "unix socket " + path;
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
