package org.xenfork.privcmd;

import com.kenai.jffi.MemoryIO;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;
import jnr.ffi.types.u_int64_t;

/**
 * The real native seam: libc's open, close, ioctl, mmap, munmap, madvise, read,
 * write and poll through jnr-ffi, and raw memory access through jffi's MemoryIO.
 *
 * <pre>{@code
 * NativeSeam seam = LinuxSeam.get();
 * int fd = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
 * }</pre>
 */
public final class LinuxSeam implements NativeSeam {

    /** The libc functions, bound once. Pointers are passed as addresses (long) on purpose: the seam speaks addresses. */
    public interface LibC {
        @SaveError
        int open(String path, int flags);

        @SaveError
        int close(int fd);

        // ioctl is variadic; on x86-64 an integer third argument travels in a register exactly like a fixed one.
        @SaveError
        int ioctl(int fd, long request, long arg);

        // A Pointer parameter on purpose: declared all-integer, jnr-ffi 2.2.17's six-argument fast path
        // made glibc's mmap fail with EINVAL for a valid anonymous mapping (seen here); this form works.
        @SaveError
        Pointer mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

        @SaveError
        int munmap(long addr, @size_t long length);

        @SaveError
        int madvise(long addr, @size_t long length, int advice);

        @SaveError
        @ssize_t
        long read(int fd, long buf, @size_t long count);

        @SaveError
        @ssize_t
        long write(int fd, long buf, @size_t long count);

        // nfds_t is an unsigned long; jnr-ffi copies the struct in and out around the call.
        @SaveError
        int poll(@In @Out PollFd fds, @u_int64_t long nfds, int timeout);
    }

    /** libc's {@code struct pollfd}, laid out by jnr-ffi (one int, two shorts). */
    public static final class PollFd extends Struct {
        public final Signed32 fd = new Signed32();
        public final Signed16 events = new Signed16();
        public final Signed16 revents = new Signed16();

        public PollFd(Runtime runtime) {
            super(runtime);
        }
    }

    private static volatile LinuxSeam instance;

    private final LibC libc;
    private final Runtime runtime;
    private final MemoryIO memory = MemoryIO.getInstance();

    private LinuxSeam() {
        this.libc = LibraryLoader.create(LibC.class).load("c");
        this.runtime = Runtime.getRuntime(libc);
    }

    /** The process-wide seam (libc is bound on first use). */
    public static LinuxSeam get() {
        LinuxSeam s = instance;
        if (s == null) {
            synchronized (LinuxSeam.class) {
                s = instance;
                if (s == null) {
                    s = new LinuxSeam();
                    instance = s;
                }
            }
        }
        return s;
    }

    @Override
    public int open(String path, int flags) throws NativeException {
        if ((flags & Linux.O_CLOEXEC) == 0) {
            throw new IllegalArgumentException("open(" + path + ") without O_CLOEXEC: the fd would leak into child processes");
        }
        int fd = libc.open(path, flags);
        if (fd < 0) {
            throw new NativeException("open(" + path + ")", errno());
        }
        return fd;
    }

    @Override
    public void close(int fd) throws NativeException {
        if (libc.close(fd) < 0) {
            throw new NativeException("close(" + fd + ")", errno());
        }
    }

    @Override
    public int ioctl(int fd, int request, long argAddress) throws NativeException {
        // request is an unsigned long in C: widen without sign extension.
        int r = libc.ioctl(fd, request & 0xffffffffL, argAddress);
        if (r < 0) {
            throw new NativeException("ioctl(0x" + Integer.toHexString(request) + ")", errno());
        }
        return r;
    }

    @Override
    public long mmap(long length, int prot, int flags, int fd, long offset) throws NativeException {
        Pointer p = libc.mmap(null, length, prot, flags, fd, offset);
        if (p == null || p.address() == Linux.MAP_FAILED) {
            throw new NativeException("mmap(" + length + " bytes)", errno());
        }
        return p.address();
    }

    @Override
    public void munmap(long address, long length) throws NativeException {
        if (libc.munmap(address, length) < 0) {
            throw new NativeException("munmap", errno());
        }
    }

    @Override
    public void madvise(long address, long length, int advice) throws NativeException {
        if (libc.madvise(address, length, advice) < 0) {
            throw new NativeException("madvise(" + advice + ")", errno());
        }
    }

    @Override
    public void read(long address, byte[] dst, int dstOffset, int length) {
        // Safe: callers pass addresses of mappings this seam made and still holds, within their length.
        memory.getByteArray(address, dst, dstOffset, length);
    }

    @Override
    public void write(long address, byte[] src, int srcOffset, int length) {
        // Safe: as for read, the range lies inside a live mapping owned by the caller.
        memory.putByteArray(address, src, srcOffset, length);
    }

    @Override
    public int readFd(int fd, long address, int length) throws NativeException {
        checkLength(length);
        // Safe: the kernel stores at most length bytes at address, which callers keep inside a live mapping of theirs.
        long n = libc.read(fd, address, length);
        if (n < 0) {
            throw new NativeException("read(" + fd + ", " + length + " bytes)", errno());
        }
        return (int) n;
    }

    @Override
    public int writeFd(int fd, long address, int length) throws NativeException {
        checkLength(length);
        // Safe: the kernel only reads the length bytes at address, inside a live mapping the caller owns.
        long n = libc.write(fd, address, length);
        if (n < 0) {
            throw new NativeException("write(" + fd + ", " + length + " bytes)", errno());
        }
        return (int) n;
    }

    @Override
    public int poll(int fd, int events, int timeoutMillis) throws NativeException {
        PollFd pollFd = new PollFd(runtime);
        pollFd.fd.set(fd);
        pollFd.events.set((short) events);
        // Safe: the kernel reads and writes exactly one struct pollfd, jnr-ffi's copy of pollFd, during the call.
        int r = libc.poll(pollFd, 1, timeoutMillis);
        if (r < 0) {
            throw new NativeException("poll(" + fd + ")", errno());
        }
        return r == 0 ? 0 : pollFd.revents.get() & 0xffff;
    }

    private static void checkLength(int length) {
        if (length < 0) {
            throw new IllegalArgumentException("a negative length (" + length + ") for read(2) or write(2)");
        }
    }

    private int errno() {
        return jnr.ffi.LastError.getLastError(runtime);
    }
}
