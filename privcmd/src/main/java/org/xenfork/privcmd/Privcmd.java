package org.xenfork.privcmd;

import java.util.Arrays;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * An open {@code /dev/xen/privcmd}: raw hypercalls and the hypercall-safe
 * buffers to pass them. Both device files are opened O_CLOEXEC, so a QEMU or
 * any other child never inherits them.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get())) {
 *     long v = privcmd.hypercall(17, 0, 0, 0, 0, 0);          // __HYPERVISOR_xen_version, XENVER_version
 * }
 * }</pre>
 */
public final class Privcmd implements AutoCloseable {
    /** privcmd_hypercall is the same in every release; any release's layout serves. */
    private static final StructLayout HYPERCALL = Abi.anyRelease().struct("privcmd_hypercall");
    private static final Leaf OP = HYPERCALL.leaf("op");
    private static final Leaf[] ARGS = {HYPERCALL.leaf("arg[0]"), HYPERCALL.leaf("arg[1]"),
        HYPERCALL.leaf("arg[2]"), HYPERCALL.leaf("arg[3]"), HYPERCALL.leaf("arg[4]")};

    private final NativeSeam seam;
    private final int fd;
    private final int hypercallFd;
    private final HypercallBuffers buffers;
    private final HypercallBuffer request;
    private final byte[] requestBytes = new byte[HYPERCALL.size()];
    private boolean closed;

    private Privcmd(NativeSeam seam, int fd, int hypercallFd) throws NativeException {
        this.seam = seam;
        this.fd = fd;
        this.hypercallFd = hypercallFd;
        this.buffers = new HypercallBuffers(seam, hypercallFd);
        this.request = buffers.acquire(HYPERCALL.size());
    }

    /**
     * Opens {@code /dev/xen/privcmd} (or {@code /proc/xen/privcmd} where the node
     * is missing, as libxencall does) and {@code /dev/xen/hypercall} if present.
     *
     * @throws XenEnvironmentException when this is no dom0 or the caller is not root
     */
    public static Privcmd open(NativeSeam seam) {
        int fd;
        try {
            fd = openPrivcmd(seam);
        } catch (NativeException e) {
            throw XenEnvironmentException.forPrivcmdOpen(e);
        }
        int hcall = -1;
        try {
            hcall = seam.open(Linux.HYPERCALL_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
        } catch (NativeException e) {
            if (e.errno() != Errno.ENOENT) {
                closeQuietly(seam, fd);
                throw XenEnvironmentException.forPrivcmdOpen(e);
            }
        }
        try {
            return new Privcmd(seam, fd, hcall);
        } catch (NativeException e) {
            closeQuietly(seam, fd);
            if (hcall >= 0) {
                closeQuietly(seam, hcall);
            }
            throw new XenEnvironmentException("cannot map a hypercall buffer: " + e.getMessage()
                    + "; the anonymous fallback needs mlock rights (RLIMIT_MEMLOCK) as root");
        }
    }

    private static int openPrivcmd(NativeSeam seam) throws NativeException {
        try {
            return seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
        } catch (NativeException e) {
            int err = e.errno();
            if (err == Errno.ENOENT || err == Errno.ENXIO || err == Errno.ENODEV) {
                try {
                    return seam.open(Linux.PRIVCMD_PROC, Linux.O_RDWR | Linux.O_CLOEXEC);
                } catch (NativeException ignored) {
                    throw e; // report the device node, the path users know
                }
            }
            throw e;
        }
    }

    public NativeSeam seam() {
        return seam;
    }

    public HypercallBuffers buffers() {
        return buffers;
    }

    /** The privcmd fd, for the calls other than HYPERCALL on it ({@link ForeignMemory}): only while open. */
    int fd() {
        if (closed) {
            throw new IllegalStateException("privcmd closed");
        }
        return fd;
    }

    /**
     * {@code IOCTL_PRIVCMD_HYPERCALL}: hypercall {@code op} with five arguments.
     * Returns the hypercall's non-negative result, truncated to 32 bits by
     * ioctl's {@code int} (use a multicall where the full 64 bits matter);
     * a negative result is a {@link NativeException} with Xen's errno.
     */
    public int hypercall(long op, long a0, long a1, long a2, long a3, long a4) throws NativeException {
        if (closed) {
            throw new IllegalStateException("privcmd closed");
        }
        Arrays.fill(requestBytes, (byte) 0);
        OP.write(requestBytes, 0, op);
        ARGS[0].write(requestBytes, 0, a0);
        ARGS[1].write(requestBytes, 0, a1);
        ARGS[2].write(requestBytes, 0, a2);
        ARGS[3].write(requestBytes, 0, a3);
        ARGS[4].write(requestBytes, 0, a4);
        request.put(requestBytes, requestBytes.length);
        return seam.ioctl(fd, Linux.IOCTL_PRIVCMD_HYPERCALL, request.address());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        request.close();
        try {
            buffers.close();
        } catch (NativeException e) {
            // Unmapping our own mappings cannot fail short of a bug; the fds still get closed.
        }
        closeQuietly(seam, fd);
        if (hypercallFd >= 0) {
            closeQuietly(seam, hypercallFd);
        }
    }

    private static void closeQuietly(NativeSeam seam, int fd) {
        try {
            seam.close(fd);
        } catch (NativeException ignored) {
            // close(2) failing leaves nothing for us to undo.
        }
    }
}
