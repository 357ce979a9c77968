package org.xenfork.privcmd;

/**
 * Every native call xenfork makes, in one place. {@link LinuxSeam} makes them
 * for real through jnr-ffi; the simulator ({@code xen-sim}) answers them itself,
 * reading the very bytes {@code privcmd} wrote, so a simulator test exercises
 * the real encoding.
 *
 * <p>Failures are {@link NativeException}s carrying the call and errno, as
 * Linux reports them (-1 and errno). Addresses are plain {@code long}s of this
 * process's address space (or of the simulator's).
 */
public interface NativeSeam {

    /**
     * open(2). {@code flags} must include {@link Linux#O_CLOEXEC} (an IllegalArgumentException
     * otherwise): no privileged fd may leak into a child process such as QEMU.
     */
    int open(String path, int flags) throws NativeException;

    /** close(2). */
    void close(int fd) throws NativeException;

    /** ioctl(2) with a pointer argument; the call's non-negative result (glibc returns an {@code int}). */
    int ioctl(int fd, int request, long argAddress) throws NativeException;

    /** mmap(2); returns the mapping's address. */
    long mmap(long length, int prot, int flags, int fd, long offset) throws NativeException;

    /** munmap(2). */
    void munmap(long address, long length) throws NativeException;

    /** madvise(2). */
    void madvise(long address, long length, int advice) throws NativeException;

    /** Copies {@code length} bytes at {@code address} into {@code dst}. */
    void read(long address, byte[] dst, int dstOffset, int length);

    /** Copies {@code length} bytes of {@code src} to {@code address}. */
    void write(long address, byte[] src, int srcOffset, int length);

    /**
     * read(2) of at most {@code length} bytes from {@code fd} into memory at {@code address};
     * the bytes read. Not to be confused with {@link #read(long, byte[], int, int)}, which copies
     * this process's memory.
     */
    int readFd(int fd, long address, int length) throws NativeException;

    /** write(2) of {@code length} bytes at {@code address} to {@code fd}; the bytes written. */
    int writeFd(int fd, long address, int length) throws NativeException;

    /**
     * poll(2) of one fd for {@code events} ({@link Linux#POLLIN}, …), waiting at most
     * {@code timeoutMillis} (0: not at all; negative: without limit). Returns the fd's
     * {@code revents}, 0 on timeout. As in poll(2), an fd that is not open is
     * {@link Linux#POLLNVAL}, not an error; EINTR (a signal came) is a {@link NativeException}.
     */
    int poll(int fd, int events, int timeoutMillis) throws NativeException;
}
