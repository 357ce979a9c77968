package org.xenfork.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.ForwardingSeam;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeException;

/**
 * Benchmark-only seam: real libc for everything ({@link LinuxSeam}), except that
 * it stands a FIFO in for {@code /dev/xen/privcmd} so the whole typed path runs on
 * a machine without Xen.
 *
 * <ul>
 *   <li>{@code open("/dev/xen/privcmd")} opens the FIFO O_RDWR (Linux allows it; it never blocks);</li>
 *   <li>{@code open("/dev/xen/hypercall")} fails with ENOENT, so hypercall buffers use the
 *       anonymous MAP_LOCKED fallback, as on a kernel without privcmd-buf;</li>
 *   <li>{@code ioctl(fd, IOCTL_PRIVCMD_HYPERCALL, arg)} becomes {@code ioctl(fd, FIONREAD, arg)}:
 *       a real syscall on the same fd that returns at once with 0, having stored an {@code int 0}
 *       at {@code arg} (the low half of privcmd_hypercall.op, which nothing reads afterwards).</li>
 * </ul>
 * Every other byte — the domctl image in its hypercall buffer — is left as Java wrote it, so
 * {@code getdomaininfo(0)} comes back with domain 0 and succeeds.
 *
 * <p>{@link #withoutSyscall()} makes a seam whose hypercall ioctl returns 0 without entering
 * the kernel at all: what is left is the Java work around the call, free of the syscall's
 * (large, noisy) cost on this machine.
 */
public final class FifoSeam extends ForwardingSeam implements AutoCloseable {
    /** FIONREAD (asm-generic/ioctls.h, x86-64). */
    public static final int FIONREAD = 0x541B;

    private final LinuxSeam linux = LinuxSeam.get();
    private final Path dir;
    private final Path fifo;
    private final boolean syscall;

    private FifoSeam(Path dir, Path fifo, boolean syscall) {
        super(LinuxSeam.get());
        this.dir = dir;
        this.fifo = fifo;
        this.syscall = syscall;
    }

    /** The same FIFO, but the hypercall ioctl returns 0 at once, without a syscall. */
    public FifoSeam withoutSyscall() {
        return new FifoSeam(dir, fifo, false);
    }

    /** Makes a FIFO in a fresh temporary directory (mkfifo(1)). */
    public static FifoSeam create() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("xenfork-bench-");
        Path fifo = dir.resolve("privcmd.fifo");
        Process p = new ProcessBuilder("mkfifo", "-m", "600", fifo.toString()).inheritIO().start();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            Files.deleteIfExists(dir);
            throw new IOException("mkfifo " + fifo + " failed");
        }
        return new FifoSeam(dir, fifo, true);
    }

    /** The real seam underneath. */
    public LinuxSeam linux() {
        return linux;
    }

    /** Opens the FIFO itself, O_RDWR (for the bare-ioctl benchmark). */
    public int openFifo() throws NativeException {
        return linux.open(fifo.toString(), Linux.O_RDWR | Linux.O_CLOEXEC);
    }

    @Override
    public int open(String path, int flags) throws NativeException {
        if (Linux.PRIVCMD_DEVICE.equals(path)) {
            return linux.open(fifo.toString(), Linux.O_RDWR | Linux.O_CLOEXEC);
        }
        if (Linux.HYPERCALL_DEVICE.equals(path)) {
            throw new NativeException("open(" + path + ")", Errno.ENOENT);
        }
        return super.open(path, flags);
    }


    @Override
    public int ioctl(int fd, int request, long argAddress) throws NativeException {
        if (request == Linux.IOCTL_PRIVCMD_HYPERCALL) {
            return syscall ? linux.ioctl(fd, FIONREAD, argAddress) : 0;
        }
        return super.ioctl(fd, request, argAddress);
    }






    /** Removes the FIFO and its directory (call on the seam from {@link #create()}). */
    @Override
    public void close() throws IOException {
        Files.deleteIfExists(fifo);
        Files.deleteIfExists(dir);
    }
}
