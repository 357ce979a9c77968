package org.xenfork.privcmd;

/**
 * A seam that passes every call to another; subclasses override the calls they
 * change (a benchmark's stand-in device, a test's refused open).
 */
public abstract class ForwardingSeam implements NativeSeam {
    private final NativeSeam delegate;

    protected ForwardingSeam(NativeSeam delegate) {
        this.delegate = delegate;
    }

    /** The seam underneath. */
    protected NativeSeam delegate() {
        return delegate;
    }

    @Override
    public int open(String path, int flags) throws NativeException {
        return delegate.open(path, flags);
    }

    @Override
    public void close(int fd) throws NativeException {
        delegate.close(fd);
    }

    @Override
    public int ioctl(int fd, int request, long argAddress) throws NativeException {
        return delegate.ioctl(fd, request, argAddress);
    }

    @Override
    public long mmap(long length, int prot, int flags, int fd, long offset) throws NativeException {
        return delegate.mmap(length, prot, flags, fd, offset);
    }

    @Override
    public void munmap(long address, long length) throws NativeException {
        delegate.munmap(address, length);
    }

    @Override
    public void madvise(long address, long length, int advice) throws NativeException {
        delegate.madvise(address, length, advice);
    }

    @Override
    public void read(long address, byte[] dst, int dstOffset, int length) {
        delegate.read(address, dst, dstOffset, length);
    }

    @Override
    public void write(long address, byte[] src, int srcOffset, int length) {
        delegate.write(address, src, srcOffset, length);
    }

    @Override
    public int readFd(int fd, long address, int length) throws NativeException {
        return delegate.readFd(fd, address, length);
    }

    @Override
    public int writeFd(int fd, long address, int length) throws NativeException {
        return delegate.writeFd(fd, address, length);
    }

    @Override
    public int poll(int fd, int events, int timeoutMillis) throws NativeException {
        return delegate.poll(fd, events, timeoutMillis);
    }
}
