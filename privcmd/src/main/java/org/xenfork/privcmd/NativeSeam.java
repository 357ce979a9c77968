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
}
